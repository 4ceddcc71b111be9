using Iced.Intel;

namespace MiniVM.Cpu;

// Stack, near/far branches, flags instructions, string instructions and port I/O.
public sealed partial class X86Cpu
{
    internal void Push(uint v, int size)
    {
        if (S[2].Big)
        {
            uint sp = R[4] - (uint)size;
            WriteSized(2, sp, size, v);
            R[4] = sp;
        }
        else
        {
            uint sp = (R[4] - (uint)size) & 0xFFFF;
            WriteSized(2, sp, size, v);
            R[4] = (R[4] & 0xFFFF0000) | sp;
        }
    }

    internal uint Pop(int size)
    {
        if (S[2].Big)
        {
            uint v = ReadSized(2, R[4], size);
            R[4] += (uint)size;
            return v;
        }
        uint sp = R[4] & 0xFFFF;
        uint r = ReadSized(2, sp, size);
        R[4] = (R[4] & 0xFFFF0000) | ((sp + (uint)size) & 0xFFFF);
        return r;
    }

    internal void AdjustSp(uint delta)
    {
        if (S[2].Big) R[4] += delta;
        else R[4] = (R[4] & 0xFFFF0000) | ((R[4] + delta) & 0xFFFF);
    }

    /// <summary>Relative branch: Iced computed the target for IP = page offset, so apply it relative to NextIP.</summary>
    private void NearJump(in Instruction ins)
    {
        uint rel = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
        uint target = Eip_ + rel;
        if (ins.Op0Kind == OpKind.NearBranch16) target &= 0xFFFF;
        SetNearTarget(target);
    }

    private void SetNearTarget(uint target)
    {
        if (target > S[1].Limit) throw new GuestFault(13, 0);
        Eip_ = target;
    }

    /// <summary>
    /// The selector, offset and operand size of a far JMP/CALL, immediate (ptr16:16/32) or from memory
    /// (m16:16/32: offset first, then selector, SDM vol. 2 JMP/CALL); false for the near forms.
    /// </summary>
    private bool TryFarTarget(in Instruction ins, out ushort sel, out uint offset, out int size)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.FarBranch16:
                (sel, offset, size) = (ins.FarBranchSelector, ins.FarBranch16, 2);
                return true;
            case OpKind.FarBranch32:
                (sel, offset, size) = (ins.FarBranchSelector, ins.FarBranch32, 4);
                return true;
        }
        if (ins.Code is Code.Jmp_m1616 or Code.Jmp_m1632 or Code.Call_m1616 or Code.Call_m1632)
        {
            if (ins.Op0Kind != OpKind.Memory) throw new GuestFault(6);
            size = ins.Code is Code.Jmp_m1632 or Code.Call_m1632 ? 4 : 2;
            int seg = SegOf(in ins); uint off = Ea(in ins);
            offset = ReadSized(seg, off, size);
            sel = Read16(seg, off + (uint)size);
            return true;
        }
        (sel, offset, size) = (0, 0, 0);
        return false;
    }

    private void ExecJmp(in Instruction ins)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16:
            case OpKind.NearBranch32:
                NearJump(in ins);
                return;
        }
        if (TryFarTarget(in ins, out ushort sel, out uint offset, out int farSize))
        {
            FarJump(sel, offset, farSize);
            return;
        }
        int s = ins.Code == Code.Jmp_rm32 ? 4 : 2;
        SetNearTarget(ReadOp(in ins, 0, s));
    }

    private void ExecCall(in Instruction ins)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16:
            case OpKind.NearBranch32:
            {
                int size = ins.Op0Kind == OpKind.NearBranch32 ? 4 : 2;
                uint rel = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
                uint target = Eip_ + rel;
                if (size == 2) target &= 0xFFFF;
                if (target > S[1].Limit) throw new GuestFault(13, 0);
                Push(Eip_, size);
                Eip_ = target;
                return;
            }
        }
        if (TryFarTarget(in ins, out ushort sel, out uint offset, out int farSize))
        {
            FarCall(sel, offset, farSize);
            return;
        }
        int s = ins.Code == Code.Call_rm32 ? 4 : 2;
        uint t = ReadOp(in ins, 0, s);
        if (t > S[1].Limit) throw new GuestFault(13, 0);
        Push(Eip_, s);
        Eip_ = t;
    }

    private void ExecPush(in Instruction ins)
    {
        int size = -ins.StackPointerIncrement;
        uint v;
        switch (ins.Op0Kind)
        {
            case OpKind.Register:
            {
                Register r = ins.Op0Register;
                v = r >= Register.ES && r <= Register.GS ? S[r - Register.ES].Selector : GetReg(r);
                break;
            }
            case OpKind.Memory: v = ReadSized(SegOf(in ins), Ea(in ins), size); break;
            default: v = (uint)ins.GetImmediate(0); break;
        }
        Push(v, size);
    }

    private void ExecPop(in Instruction ins)
    {
        int size = ins.StackPointerIncrement;
        if (ins.Op0Kind == OpKind.Register)
        {
            Register r = ins.Op0Register;
            if (r >= Register.ES && r <= Register.GS)
            {
                int seg = r - Register.ES;
                // Load before adjusting ESP so a faulting selector leaves the stack untouched; the adjustment uses
                // the size of the stack the selector was popped from, not of the SS just loaded (SDM vol. 2 "POP").
                bool bigStack = S[2].Big;
                uint sel = bigStack ? ReadSized(2, R[4], size) : ReadSized(2, R[4] & 0xFFFF, size);
                LoadSegment(seg, (ushort)sel);
                if (bigStack) R[4] += (uint)size;
                else R[4] = (R[4] & 0xFFFF0000) | ((R[4] + (uint)size) & 0xFFFF);
                if (seg == 2) Shadow = true;
                return;
            }
            uint v = Pop(size);
            SetReg(r, v);
            return;
        }
        // POP r/m computes the address with the incremented ESP (SDM vol. 2 "POP").
        uint val = Pop(size);
        WriteSized(SegOf(in ins), Ea(in ins), size, val);
    }

    private bool V86Sensitive => (Flags_ & VM) != 0 && (Flags_ & IOPL) != IOPL;

    private void ExecPushf(int size)
    {
        if (V86Sensitive)
        {
            if ((Cr4_ & CR4_VME) == 0 || size == 4) throw new GuestFault(13, 0);
            // VME: PUSHF shows VIF in the IF position and IOPL as 3 (SDM vol. 3 §20.3.3).
            uint f = (Flags_ & ~IF & 0xFFFF) | IOPL | ((Flags_ & VIF) != 0 ? IF : 0);
            Push(f, 2);
            return;
        }
        Push(size == 4 ? Flags_ & ~(VM | RF) : Flags_ & 0xFFFF, size);
    }

    private void ExecPopf(int size)
    {
        if (V86Sensitive)
        {
            if ((Cr4_ & CR4_VME) == 0 || size == 4) throw new GuestFault(13, 0);
            uint f = Pop(2);
            if ((f & TF) != 0 || ((f & IF) != 0 && (Flags_ & VIP) != 0)) { R[4] = _startEsp; throw new GuestFault(13, 0); }
            uint keep = IF | IOPL;
            Flags_ = (Flags_ & ~(0xFFFFu & ~keep)) | (f & 0xFFFF & ~keep & 0x7FD5) | 2;
            Flags_ = (f & IF) != 0 ? Flags_ | VIF : Flags_ & ~VIF;
            return;
        }
        uint v = Pop(size);
        uint mask = size == 4 ? 0x3F7FD5u : 0x7FD5u;
        if (ProtectedMode)
        {
            mask &= ~(VM | VIF | VIP);
            if ((Flags_ & VM) != 0 || Cpl > 0) mask &= ~IOPL;
            if ((Flags_ & VM) == 0 && Cpl > (int)((Flags_ >> 12) & 3)) mask &= ~IF;
        }
        else mask &= ~(VM | VIF | VIP);
        SetFlags(v, mask & ~RF);
        if (size == 4) Flags_ &= ~RF;
    }

    /// <summary>Replaces the EFLAGS bits in <paramref name="mask"/>; bit 1 stays set.</summary>
    internal void SetFlags(uint v, uint mask)
    {
        Flags_ = (Flags_ & ~mask) | (v & mask) | 2;
    }

    private void ExecCli()
    {
        if (ProtectedMode && Cpl > (int)((Flags_ >> 12) & 3))
        {
            // VME/PVI: IOPL-sensitive CLI clears VIF instead (SDM vol. 3 §20.4).
            if (((Flags_ & VM) != 0 && (Cr4_ & CR4_VME) != 0) || ((Flags_ & VM) == 0 && Cpl == 3 && (Cr4_ & CR4_PVI) != 0)) { Flags_ &= ~VIF; return; }
            throw new GuestFault(13, 0);
        }
        Flags_ &= ~IF;
    }

    private void ExecSti()
    {
        if (ProtectedMode && Cpl > (int)((Flags_ >> 12) & 3))
        {
            if (((Flags_ & VM) != 0 && (Cr4_ & CR4_VME) != 0) || ((Flags_ & VM) == 0 && Cpl == 3 && (Cr4_ & CR4_PVI) != 0))
            {
                if ((Flags_ & VIP) != 0) throw new GuestFault(13, 0);
                Flags_ |= VIF;
                return;
            }
            throw new GuestFault(13, 0);
        }
        if ((Flags_ & IF) == 0) Shadow = true;
        Flags_ |= IF;
    }

    /// <summary>Protected-mode I/O permission: CPL ≤ IOPL, else every bit of the TSS I/O bitmap for the ports must be 0.</summary>
    private void CheckIoPermission(ushort port, int size)
    {
        if (!ProtectedMode) return;
        if ((Flags_ & VM) == 0 && Cpl <= (int)((Flags_ >> 12) & 3)) return;
        if ((Tr.Type & 0xD) != 9 || Tr.Limit < 103) throw new GuestFault(13, 0); // only a 32-bit TSS has an I/O bitmap
        uint bitmap = ReadSys16(Tr.Base + 102);
        uint byteOff = bitmap + (uint)(port >> 3);
        if (byteOff + 1 > Tr.Limit) throw new GuestFault(13, 0);
        uint bits = ReadSys16(Tr.Base + byteOff);
        uint need = ((1u << size) - 1) << (port & 7);
        if ((bits & need) != 0) throw new GuestFault(13, 0);
    }

    private static bool StringAddr32(in Instruction ins)
    {
        for (int k = 0; k < ins.OpCount; k++)
        {
            switch (ins.GetOpKind(k))
            {
                case OpKind.MemorySegESI:
                case OpKind.MemorySegEDI:
                case OpKind.MemoryESEDI:
                    return true;
                case OpKind.MemorySegSI:
                case OpKind.MemorySegDI:
                case OpKind.MemoryESDI:
                    return false;
            }
        }
        return false;
    }

    private void StringOp(in Instruction ins)
    {
        int size = MemSizeBytes[(int)ins.MemorySize];
        bool a32 = StringAddr32(in ins);
        uint amask = a32 ? 0xFFFFFFFF : 0xFFFF;
        int srcSeg = SegOf(in ins);
        uint delta = (Flags_ & DF) != 0 ? (uint)-size : (uint)size;
        bool rep = ins.HasRepPrefix || ins.HasRepnePrefix;
        Mnemonic m = ins.Mnemonic;
        bool isIn = m is Mnemonic.Insb or Mnemonic.Insw or Mnemonic.Insd;
        bool isOut = m is Mnemonic.Outsb or Mnemonic.Outsw or Mnemonic.Outsd;
        if (isIn || isOut) CheckIoPermission((ushort)R[2], size);
        uint count = a32 ? R[1] : R[1] & 0xFFFF;
        if (rep && count == 0) return;
        Register acc = size == 1 ? Register.AL : size == 2 ? Register.AX : Register.EAX;
        int budget = RepChunk;
        while (true)
        {
            uint si = R[6] & amask, di = R[7] & amask;
            bool advSi = false, advDi = false, compare = false;
            switch (m)
            {
                case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsd:
                    WriteSized(0, di, size, ReadSized(srcSeg, si, size));
                    advSi = advDi = true;
                    break;
                case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsd:
                {
                    uint a = ReadSized(srcSeg, si, size);
                    uint b = ReadSized(0, di, size);
                    Sub(a, b, 0, size);
                    advSi = advDi = compare = true;
                    break;
                }
                case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd:
                    Sub(GetReg(acc), ReadSized(0, di, size), 0, size);
                    advDi = compare = true;
                    break;
                case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd:
                    SetReg(acc, ReadSized(srcSeg, si, size));
                    advSi = true;
                    break;
                case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd:
                    WriteSized(0, di, size, GetReg(acc));
                    advDi = true;
                    break;
                case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
                {
                    // Probe the destination first so a fault does not swallow the port read.
                    LinearForWrite(0, di, (uint)size);
                    uint v = _bus.In((ushort)R[2], size);
                    CheckIoAccess((ushort)R[2], size);
                    CheckMapGeneration();
                    WriteSized(0, di, size, v);
                    advDi = true;
                    break;
                }
                default:
                    _bus.Out((ushort)R[2], size, ReadSized(srcSeg, si, size));
                    CheckIoAccess((ushort)R[2], size);
                    CheckMapGeneration();
                    advSi = true;
                    break;
            }
            if (advSi) R[6] = a32 ? si + delta : (R[6] & 0xFFFF0000) | ((si + delta) & 0xFFFF);
            if (advDi) R[7] = a32 ? di + delta : (R[7] & 0xFFFF0000) | ((di + delta) & 0xFFFF);
            if (!rep) return;
            count = (count - 1) & amask;
            R[1] = a32 ? count : (R[1] & 0xFFFF0000) | count;
            if (compare)
            {
                bool zf = (Flags_ & ZF) != 0;
                if (ins.HasRepePrefix && !zf) return;
                if (ins.HasRepnePrefix && zf) return;
            }
            if (count == 0) return;
            if (_dataHits != 0 || --budget == 0)
            {
                // REP instructions are interruptible between iterations (SDM vol. 1 §7.3.9.4): re-execute the
                // instruction so a huge ECX cannot stall interrupts and the virtual clock inside one step. A data or
                // I/O breakpoint hit is reported after the iteration that hit it, with EIP still at the instruction
                // while iterations remain (SDM vol. 3 §17.3.1.2), and that trap pushes RF = 1 (§17.3.1.1).
                Eip_ = _startEip;
                if (_dataHits != 0) _flags |= RF;
                return;
            }
        }
    }

    /// <summary>Iterations of a REP string instruction per execution step.</summary>
    private const int RepChunk = 4096;
}
