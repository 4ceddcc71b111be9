using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// Hand-specialised handlers for the instruction shapes that dominate 32-bit compiled code, one per FastForm.
// Operands come from the DecodedOp fields filled at decode time (X86Cpu.Predecode.cs); 32-bit ALU ops leave
// their flags lazy (X86Cpu.LazyFlags.cs). A form that meets a case it does not cover (a 16-bit stack) hands
// the instruction to the general interpreter, which sees exactly the state it would have seen.
public sealed partial class X86Cpu
{
    /// <summary>GPR by index without a bounds check: indices come from the decoder (0..7, or 8 = the zero slot).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref uint Gpr(int i) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(R), i);

    /// <summary>base + index × scale + displacement, wrapped to 16 bits for 16-bit addressing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint EaOf(ref DecodedOp d) => (d.Disp + Gpr(d.Base) + (Gpr(d.Index) << d.Scale)) & d.EaMask;

    // The segment check and TLB probe written out in one body (rather than LinearForRead + ReadLin32), so that a
    // handler inlines one small method per access and the big switch stays within the JIT's inlining budget.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe uint ReadM32(int seg, uint off)
    {
        if ((long)off + 3 <= FastReadLimit(seg))
        {
            uint lin = S[seg].Base + off;
            TlbEntry* e = TlbProbe(_tlbRead, lin);
            if (e->Page == (lin + 3) >> 12) return Unsafe.ReadUnaligned<uint>((void*)(e->Host + lin));
        }
        return ReadM32Slow(seg, off);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint ReadM32Slow(int seg, uint off) => ReadLin32(LinearForRead(seg, off, 4));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void WriteM32(int seg, uint off, uint v)
    {
        if ((long)off + 3 <= FastWriteLimit(seg))
        {
            uint lin = S[seg].Base + off;
            TlbEntry* e = TlbProbe(_tlbWrite, lin);
            if (e->Page == (lin + 3) >> 12)
            {
                Unsafe.WriteUnaligned((void*)(e->Host + lin), v);
                return;
            }
        }
        WriteM32Slow(seg, off, v);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteM32Slow(int seg, uint off, uint v) => WriteLin32(LinearForWrite(seg, off, 4), v);

    /// <summary>SS is a 32-bit (B = 1) stack: the stack forms handle only that and leave 16-bit stacks to the general path.</summary>
    private bool Stack32
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (S[2].Attributes & 0x4000) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Load32(ref DecodedOp d) => ReadM32(d.Seg, EaOf(ref d));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Load8(ref DecodedOp d) => ReadLin8(LinearForRead(d.Seg, EaOf(ref d), 1));

    /// <summary>PUSH of a dword on a 32-bit (B=1) stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push32(uint v)
    {
        uint sp = R[4] - 4;
        WriteM32(2, sp, v);
        R[4] = sp;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void JumpTo(uint target)
    {
        if (target > CsLimit) throw new GuestFault(13, 0);
        Eip_ = target;
    }

    /// <summary>A near branch target, #GP(0) beyond CS's limit (for translated blocks, which set EIP at their exit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint BranchTarget(uint target)
    {
        if (target > CsLimit) throw new GuestFault(13, 0);
        return target;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CallTo(uint target)
    {
        if (target > CsLimit) throw new GuestFault(13, 0);
        Push32(Eip_);
        Eip_ = target;
    }

    /// <summary>Two- and three-operand IMUL r32: truncated signed product, CF = OF = it did not fit.</summary>
    private uint Imul32(uint a, uint b)
    {
        long p = (long)(int)a * (int)b;
        uint r = (uint)p;
        uint f = Szp(r, 4);
        if (p != (int)r) f |= CF | OF;
        SetArith(f);
        return r;
    }

    /// <summary>Runs a specialised form; EIP already points past the instruction.</summary>
    /// <remarks>The commonest forms only: the rest live in <see cref="ExecuteFastCold"/> so this switch stays small
    /// enough for the JIT to inline every operand and memory helper into it.</remarks>
    private void ExecuteFast(ref DecodedOp d)
    {
        switch (d.Form)
        {
            case FastForm.MovRR: Gpr(d.Reg0) = Gpr(d.Reg1); return;
            case FastForm.MovRM: Gpr(d.Reg0) = Load32(ref d); return;
            case FastForm.MovMR: WriteM32(d.Seg, EaOf(ref d), Gpr(d.Reg1)); return;
            case FastForm.MovRI: Gpr(d.Reg0) = d.Imm; return;
            case FastForm.MovMI: WriteM32(d.Seg, EaOf(ref d), d.Imm); return;
            case FastForm.MovzxR8: Gpr(d.Reg0) = GetReg((Register)d.Reg1); return;
            case FastForm.MovzxM8: Gpr(d.Reg0) = Load8(ref d); return;
            case FastForm.MovzxM16: Gpr(d.Reg0) = ReadLin16(LinearForRead(d.Seg, EaOf(ref d), 2)); return;
            case FastForm.AddRR: { ref uint r = ref Gpr(d.Reg0); r = LazyAdd32(r, Gpr(d.Reg1)); return; }
            case FastForm.AddRM: { uint m = Load32(ref d); ref uint r = ref Gpr(d.Reg0); r = LazyAdd32(r, m); return; }
            case FastForm.AddMR: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyAdd32(ReadM32(d.Seg, ea), Gpr(d.Reg1))); return; }
            case FastForm.AddRI: { ref uint r = ref Gpr(d.Reg0); r = LazyAdd32(r, d.Imm); return; }
            case FastForm.AddMI: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyAdd32(ReadM32(d.Seg, ea), d.Imm)); return; }
            case FastForm.OrRR: { ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r | Gpr(d.Reg1)); return; }
            case FastForm.OrRI: { ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r | d.Imm); return; }
            case FastForm.AndRR: { ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r & Gpr(d.Reg1)); return; }
            case FastForm.AndRI: { ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r & d.Imm); return; }
            case FastForm.SubRR: { ref uint r = ref Gpr(d.Reg0); r = LazySub32(r, Gpr(d.Reg1)); return; }
            case FastForm.SubRM: { uint m = Load32(ref d); ref uint r = ref Gpr(d.Reg0); r = LazySub32(r, m); return; }
            case FastForm.SubMR: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazySub32(ReadM32(d.Seg, ea), Gpr(d.Reg1))); return; }
            case FastForm.SubRI: { ref uint r = ref Gpr(d.Reg0); r = LazySub32(r, d.Imm); return; }
            case FastForm.XorRR: { ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r ^ Gpr(d.Reg1)); return; }
            case FastForm.XorRI: { ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r ^ d.Imm); return; }
            case FastForm.CmpRR: LazySub32(Gpr(d.Reg0), Gpr(d.Reg1)); return;
            case FastForm.CmpRM: LazySub32(Gpr(d.Reg0), Load32(ref d)); return;
            case FastForm.CmpMR: LazySub32(Load32(ref d), Gpr(d.Reg1)); return;
            case FastForm.CmpRI: LazySub32(Gpr(d.Reg0), d.Imm); return;
            case FastForm.CmpMI: LazySub32(Load32(ref d), d.Imm); return;
            case FastForm.TestRR: LazyLogic32(Gpr(d.Reg0) & Gpr(d.Reg1)); return;
            case FastForm.TestMR: LazyLogic32(Load32(ref d) & Gpr(d.Reg1)); return;
            case FastForm.TestRI: LazyLogic32(Gpr(d.Reg0) & d.Imm); return;
            case FastForm.TestMI: LazyLogic32(Load32(ref d) & d.Imm); return;
            case FastForm.IncR: { ref uint r = ref Gpr(d.Reg0); r = LazyInc32(r); return; }
            case FastForm.DecR: { ref uint r = ref Gpr(d.Reg0); r = LazyDec32(r); return; }
            case FastForm.Lea: Gpr(d.Reg0) = EaOf(ref d); return;
            case FastForm.PushR:
                if (!Stack32) break;
                Push32(Gpr(d.Reg0));
                return;
            case FastForm.PushI:
                if (!Stack32) break;
                Push32(d.Imm);
                return;
            case FastForm.PopR:
            {
                if (!Stack32) break;
                uint v = ReadM32(2, R[4]);
                R[4] += 4;
                Gpr(d.Reg0) = v;
                return;
            }
            case FastForm.CallRel:
                if (!Stack32) break;
                CallTo(Eip_ + d.Imm);
                return;
            case FastForm.CallR:
                if (!Stack32) break;
                CallTo(Gpr(d.Reg0));
                return;
            case FastForm.CallM:
                if (!Stack32) break;
                CallTo(Load32(ref d));
                return;
            case FastForm.Ret:
            case FastForm.RetImm:
            {
                if (!Stack32) break;
                uint target = ReadM32(2, R[4]);
                if (target > CsLimit) throw new GuestFault(13, 0);
                R[4] += 4 + d.Imm;
                Eip_ = target;
                return;
            }
            case FastForm.JmpRel: JumpTo(Eip_ + d.Imm); return;
            case FastForm.JmpR: JumpTo(Gpr(d.Reg0)); return;
            case FastForm.JmpM: JumpTo(Load32(ref d)); return;
            case FastForm.Jcc:
                if (TestCondition(d.Aux)) JumpTo(Eip_ + d.Imm);
                return;
            case FastForm.Jz:
                if (ZeroFlagNow) JumpTo(Eip_ + d.Imm);
                return;
            case FastForm.Jnz:
                if (!ZeroFlagNow) JumpTo(Eip_ + d.Imm);
                return;
        }
        ExecuteFastCold(ref d);
    }

    private void ExecuteFastCold(ref DecodedOp d)
    {
        switch (d.Form)
        {
            case FastForm.MovR8M: SetReg((Register)d.Reg0, Load8(ref d)); return;
            case FastForm.MovM8R: WriteLin8(LinearForWrite(d.Seg, EaOf(ref d), 1), (byte)GetReg((Register)d.Reg1)); return;
            case FastForm.MovM8I: WriteLin8(LinearForWrite(d.Seg, EaOf(ref d), 1), (byte)d.Imm); return;
            case FastForm.MovR8R8: SetReg((Register)d.Reg0, GetReg((Register)d.Reg1)); return;
            case FastForm.MovR8I: SetReg((Register)d.Reg0, d.Imm); return;
            case FastForm.MovM16R: WriteLin16(LinearForWrite(d.Seg, EaOf(ref d), 2), (ushort)Gpr(d.Reg1)); return;
            case FastForm.MovR16M:
            {
                uint v = ReadLin16(LinearForRead(d.Seg, EaOf(ref d), 2));
                ref uint r = ref Gpr(d.Reg0);
                r = (r & 0xFFFF0000) | v;
                return;
            }
            case FastForm.MovM16I: WriteLin16(LinearForWrite(d.Seg, EaOf(ref d), 2), (ushort)d.Imm); return;
            case FastForm.MovzxR16: Gpr(d.Reg0) = Gpr(d.Reg1) & 0xFFFF; return;
            case FastForm.MovsxR8: Gpr(d.Reg0) = (uint)(sbyte)GetReg((Register)d.Reg1); return;
            case FastForm.MovsxM8: Gpr(d.Reg0) = (uint)(sbyte)Load8(ref d); return;
            case FastForm.MovsxR16: Gpr(d.Reg0) = (uint)(short)Gpr(d.Reg1); return;
            case FastForm.MovsxM16: Gpr(d.Reg0) = (uint)(short)ReadLin16(LinearForRead(d.Seg, EaOf(ref d), 2)); return;
            case FastForm.OrRM: { uint m = Load32(ref d); ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r | m); return; }
            case FastForm.OrMR: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyLogic32(ReadM32(d.Seg, ea) | Gpr(d.Reg1))); return; }
            case FastForm.OrMI: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyLogic32(ReadM32(d.Seg, ea) | d.Imm)); return; }
            case FastForm.AndRM: { uint m = Load32(ref d); ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r & m); return; }
            case FastForm.AndMR: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyLogic32(ReadM32(d.Seg, ea) & Gpr(d.Reg1))); return; }
            case FastForm.AndMI: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyLogic32(ReadM32(d.Seg, ea) & d.Imm)); return; }
            case FastForm.SubMI: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazySub32(ReadM32(d.Seg, ea), d.Imm)); return; }
            case FastForm.XorRM: { uint m = Load32(ref d); ref uint r = ref Gpr(d.Reg0); r = LazyLogic32(r ^ m); return; }
            case FastForm.XorMR: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyLogic32(ReadM32(d.Seg, ea) ^ Gpr(d.Reg1))); return; }
            case FastForm.XorMI: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyLogic32(ReadM32(d.Seg, ea) ^ d.Imm)); return; }
            case FastForm.Cmp8RR: Sub(GetReg((Register)d.Reg0), GetReg((Register)d.Reg1), 0, 1); return;
            case FastForm.Cmp8MR: Sub(Load8(ref d), GetReg((Register)d.Reg1), 0, 1); return;
            case FastForm.Cmp8RM: Sub(GetReg((Register)d.Reg0), Load8(ref d), 0, 1); return;
            case FastForm.Cmp8RI: Sub(GetReg((Register)d.Reg0), d.Imm, 0, 1); return;
            case FastForm.Cmp8MI: Sub(Load8(ref d), d.Imm, 0, 1); return;
            case FastForm.Test8RR: Logic(GetReg((Register)d.Reg0) & GetReg((Register)d.Reg1), 1); return;
            case FastForm.Test8RI: Logic(GetReg((Register)d.Reg0) & d.Imm, 1); return;
            case FastForm.Test8MI: Logic(Load8(ref d) & d.Imm, 1); return;
            case FastForm.IncM: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyInc32(ReadM32(d.Seg, ea))); return; }
            case FastForm.DecM: { uint ea = EaOf(ref d); WriteM32(d.Seg, ea, LazyDec32(ReadM32(d.Seg, ea))); return; }
            case FastForm.ShiftRI:
                if ((d.Imm & 0x1F) != 0) Gpr(d.Reg0) = Shift(d.Aux, Gpr(d.Reg0), d.Imm, 4);
                return;
            case FastForm.ShiftRCl:
            {
                uint count = R[1] & 0xFF;
                if ((count & 0x1F) != 0) Gpr(d.Reg0) = Shift(d.Aux, Gpr(d.Reg0), count, 4);
                return;
            }
            case FastForm.PushM:
                if (!Stack32) break;
                Push32(Load32(ref d));
                return;
            case FastForm.SetccR8: SetReg((Register)d.Reg0, TestCondition(d.Aux) ? 1u : 0); return;
            case FastForm.SetccM8: WriteLin8(LinearForWrite(d.Seg, EaOf(ref d), 1), TestCondition(d.Aux) ? (byte)1 : (byte)0); return;
            case FastForm.CmovRR:
                if (TestCondition(d.Aux)) Gpr(d.Reg0) = Gpr(d.Reg1);
                return;
            case FastForm.CmovRM:
            {
                uint v = Load32(ref d); // memory is read even when the condition is false
                if (TestCondition(d.Aux)) Gpr(d.Reg0) = v;
                return;
            }
            case FastForm.ImulRR: Gpr(d.Reg0) = Imul32(Gpr(d.Reg0), Gpr(d.Reg1)); return;
            case FastForm.ImulRM: { uint m = Load32(ref d); Gpr(d.Reg0) = Imul32(Gpr(d.Reg0), m); return; }
            case FastForm.ImulRRI: Gpr(d.Reg0) = Imul32(Gpr(d.Reg1), d.Imm); return;
            case FastForm.ImulRMI: Gpr(d.Reg0) = Imul32(Load32(ref d), d.Imm); return;
            case FastForm.Leave:
            {
                if (!Stack32) break;
                R[4] = R[5];
                uint bp = ReadM32(2, R[4]);
                R[4] += 4;
                R[5] = bp;
                return;
            }
            case FastForm.Cdq: R[2] = (uint)((int)R[0] >> 31); return;
            case FastForm.Nop: return;
            case FastForm.Xchg:
            {
                uint a = Gpr(d.Reg0);
                Gpr(d.Reg0) = Gpr(d.Reg1);
                Gpr(d.Reg1) = a;
                return;
            }

            case FastForm.MovR16R16: Set16(d.Reg0, Gpr(d.Reg1)); return;
            case FastForm.MovR16I: Set16(d.Reg0, d.Imm); return;
            case FastForm.Alu16RR:
            {
                uint r = Alu(d.Aux, Gpr(d.Reg0), Gpr(d.Reg1), 2);
                if (d.Aux != 7) Set16(d.Reg0, r);
                return;
            }
            case FastForm.Alu16RM:
            {
                uint r = Alu(d.Aux, Gpr(d.Reg0), ReadLin16(LinearForRead(d.Seg, EaOf(ref d), 2)), 2);
                if (d.Aux != 7) Set16(d.Reg0, r);
                return;
            }
            case FastForm.Alu16RI:
            {
                uint r = Alu(d.Aux, Gpr(d.Reg0), d.Imm, 2);
                if (d.Aux != 7) Set16(d.Reg0, r);
                return;
            }
            case FastForm.Alu16MR:
            case FastForm.Alu16MI:
            {
                uint ea = EaOf(ref d);
                uint src = d.Form == FastForm.Alu16MR ? Gpr(d.Reg1) : d.Imm;
                uint r = Alu(d.Aux, Read16(d.Seg, ea), src, 2);
                if (d.Aux != 7) Write16(d.Seg, ea, (ushort)r);
                return;
            }
            case FastForm.Test16RR: Logic(Gpr(d.Reg0) & Gpr(d.Reg1), 2); return;
            case FastForm.Test16RI: Logic(Gpr(d.Reg0) & d.Imm, 2); return;
            case FastForm.IncR16: Set16(d.Reg0, Inc(Gpr(d.Reg0), 2)); return;
            case FastForm.DecR16: Set16(d.Reg0, Dec(Gpr(d.Reg0), 2)); return;
            case FastForm.LeaR16: Set16(d.Reg0, EaOf(ref d)); return;
            case FastForm.PushR16: Push(Gpr(d.Reg0) & 0xFFFF, 2); return;
            case FastForm.PopR16: Set16(d.Reg0, Pop(2)); return;
            case FastForm.Jcc16:
                if (TestCondition(d.Aux)) JumpTo((Eip_ + d.Imm) & 0xFFFF);
                return;
            case FastForm.JmpRel16: JumpTo((Eip_ + d.Imm) & 0xFFFF); return;
            case FastForm.CallRel16:
            {
                uint target = (Eip_ + d.Imm) & 0xFFFF;
                if (target > CsLimit) throw new GuestFault(13, 0);
                Push(Eip_, 2);
                Eip_ = target;
                return;
            }
            case FastForm.Ret16: JumpTo(Pop(2)); return;
        }
        ExecuteGeneral(in d.Ins);
    }

    /// <summary>Writes the low word of a GPR, keeping the high word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Set16(int i, uint v)
    {
        ref uint r = ref Gpr(i);
        r = (r & 0xFFFF0000) | (v & 0xFFFF);
    }
}
