using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// The interpreter: one switch over the Iced mnemonic. EIP already points past the instruction when a case
// runs; a fault restores it (and ESP) from the values saved at the instruction start.
public sealed partial class X86Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Execute(ref DecodedOp op)
    {
        uint next = Eip_ + op.Length;
        Eip_ = CodeBits == 32 ? next : next & 0xFFFF;
        if (op.Form != FastForm.General) ExecuteFast(ref op);
        else ExecuteGeneral(in op.Ins);
    }

    private void ExecuteGeneral(in Instruction ins)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: AluOp(in ins, 0); break;
            case Mnemonic.Or: AluOp(in ins, 1); break;
            case Mnemonic.Adc: AluOp(in ins, 2); break;
            case Mnemonic.Sbb: AluOp(in ins, 3); break;
            case Mnemonic.And: AluOp(in ins, 4); break;
            case Mnemonic.Sub: AluOp(in ins, 5); break;
            case Mnemonic.Xor: AluOp(in ins, 6); break;
            case Mnemonic.Cmp: AluOp(in ins, 7); break;
            case Mnemonic.Test:
            {
                int size = Size0(in ins);
                Logic(ReadOp(in ins, 0, size) & ReadOp(in ins, 1, size), size);
                break;
            }
            case Mnemonic.Mov: ExecMov(in ins); break;
            case Mnemonic.Inc: Rmw(in ins, 0); break;
            case Mnemonic.Dec: Rmw(in ins, 1); break;
            case Mnemonic.Neg: Rmw(in ins, 2); break;
            case Mnemonic.Not: Rmw(in ins, 3); break;
            case Mnemonic.Rol: ShiftOp(in ins, 0); break;
            case Mnemonic.Ror: ShiftOp(in ins, 1); break;
            case Mnemonic.Rcl: ShiftOp(in ins, 2); break;
            case Mnemonic.Rcr: ShiftOp(in ins, 3); break;
            case Mnemonic.Shl: ShiftOp(in ins, 4); break;
            case Mnemonic.Sal: ShiftOp(in ins, 6); break;
            case Mnemonic.Shr: ShiftOp(in ins, 5); break;
            case Mnemonic.Sar: ShiftOp(in ins, 7); break;
            case Mnemonic.Shld:
            case Mnemonic.Shrd:
            {
                int size = Size0(in ins);
                int seg = 0; uint off = 0;
                bool mem = ins.Op0Kind == OpKind.Memory;
                if (mem) { seg = SegOf(in ins); off = Ea(in ins); }
                uint dst = mem ? ReadSized(seg, off, size) : GetReg(ins.Op0Register);
                uint src = GetReg(ins.Op1Register);
                uint count = ins.Op2Kind == OpKind.Register ? R[1] & 0xFF : ins.Immediate8;
                if ((count & 0x1F) == 0) break;
                uint r = DoubleShift(ins.Mnemonic == Mnemonic.Shld, dst, src, count, size);
                if (mem) WriteSized(seg, off, size, r); else SetReg(ins.Op0Register, r);
                break;
            }
            case Mnemonic.Mul:
            case Mnemonic.Imul:
            case Mnemonic.Div:
            case Mnemonic.Idiv:
                MulDiv(in ins);
                break;
            case Mnemonic.Push: ExecPush(in ins); break;
            case Mnemonic.Pop: ExecPop(in ins); break;
            case Mnemonic.Pusha:
            case Mnemonic.Pushad:
            {
                int size = ins.Mnemonic == Mnemonic.Pushad ? 4 : 2;
                uint sp = R[4];
                for (int k = 0; k < 8; k++) Push(k == 4 ? sp : R[k], size);
                break;
            }
            case Mnemonic.Popa:
            case Mnemonic.Popad:
            {
                int size = ins.Mnemonic == Mnemonic.Popad ? 4 : 2;
                for (int k = 7; k >= 0; k--)
                {
                    uint v = Pop(size);
                    if (k == 4) continue;
                    if (size == 4) R[k] = v; else R[k] = (R[k] & 0xFFFF0000) | v;
                }
                break;
            }
            case Mnemonic.Pushf:
            case Mnemonic.Pushfd: ExecPushf(ins.Mnemonic == Mnemonic.Pushfd ? 4 : 2); break;
            case Mnemonic.Popf:
            case Mnemonic.Popfd: ExecPopf(ins.Mnemonic == Mnemonic.Popfd ? 4 : 2); break;
            case Mnemonic.Lahf: R[0] = (R[0] & 0xFFFF00FF) | ((Flags_ & 0xD5 | 2) << 8); break;
            case Mnemonic.Sahf: Flags_ = (Flags_ & ~0xD5u) | ((R[0] >> 8) & 0xD5) | 2; break;
            case Mnemonic.Cbw: R[0] = (R[0] & 0xFFFF0000) | (uint)(ushort)(short)(sbyte)(byte)R[0]; break;
            case Mnemonic.Cwde: R[0] = (uint)(short)R[0]; break;
            case Mnemonic.Cwd: R[2] = (R[2] & 0xFFFF0000) | ((R[0] & 0x8000) != 0 ? 0xFFFFu : 0); break;
            case Mnemonic.Cdq: R[2] = (R[0] & 0x80000000) != 0 ? 0xFFFFFFFF : 0; break;
            case Mnemonic.Xlatb: SetReg(Register.AL, Read8(SegOf(in ins), Ea(in ins))); break;
            case Mnemonic.Lea: SetReg(ins.Op0Register, Ea(in ins)); break;
            case Mnemonic.Xchg:
            {
                int size = Size0(in ins);
                if (ins.Op0Kind == OpKind.Memory || ins.Op1Kind == OpKind.Memory)
                {
                    Register reg = ins.Op0Kind == OpKind.Register ? ins.Op0Register : ins.Op1Register;
                    int seg = SegOf(in ins); uint off = Ea(in ins);
                    uint m = ReadSized(seg, off, size);
                    WriteSized(seg, off, size, GetReg(reg));
                    SetReg(reg, m);
                }
                else
                {
                    uint a = GetReg(ins.Op0Register), b = GetReg(ins.Op1Register);
                    SetReg(ins.Op0Register, b);
                    SetReg(ins.Op1Register, a);
                }
                break;
            }
            case Mnemonic.Movzx:
            case Mnemonic.Movsx:
            {
                int ssize = ins.Op1Kind == OpKind.Register ? RegSize[(int)ins.Op1Register] : MemSizeBytes[(int)ins.MemorySize];
                uint v = ReadOp(in ins, 1, ssize);
                if (ins.Mnemonic == Mnemonic.Movsx) v = ssize == 1 ? (uint)(sbyte)v : (uint)(short)v;
                SetReg(ins.Op0Register, v);
                break;
            }
            case Mnemonic.Bswap:
                if (ins.Code == Code.Bswap_r32) SetReg(ins.Op0Register, BinaryPrimitives.ReverseEndianness(GetReg(ins.Op0Register)));
                else SetReg(ins.Op0Register, 0); // BSWAP r16 is undefined; P6 leaves the low word zeroed
                break;
            case Mnemonic.Xadd:
            {
                int size = Size0(in ins);
                bool mem = ins.Op0Kind == OpKind.Memory;
                int seg = mem ? SegOf(in ins) : 0; uint off = mem ? Ea(in ins) : 0;
                uint d = mem ? ReadSized(seg, off, size) : GetReg(ins.Op0Register);
                uint s = GetReg(ins.Op1Register);
                uint sum = Add(d, s, 0, size);
                SetReg(ins.Op1Register, d);
                if (mem) WriteSized(seg, off, size, sum); else SetReg(ins.Op0Register, sum);
                break;
            }
            case Mnemonic.Cmpxchg:
            {
                int size = Size0(in ins);
                bool mem = ins.Op0Kind == OpKind.Memory;
                int seg = mem ? SegOf(in ins) : 0; uint off = mem ? Ea(in ins) : 0;
                uint d = mem ? ReadSized(seg, off, size) : GetReg(ins.Op0Register);
                uint acc = R[0] & SizeMask(size);
                Sub(acc, d, 0, size);
                uint result = d;
                if (acc == d) result = GetReg(ins.Op1Register);
                else SetReg(size == 1 ? Register.AL : size == 2 ? Register.AX : Register.EAX, d);
                // The destination is always written (the locked cycle writes back the old value on a mismatch).
                if (mem) WriteSized(seg, off, size, result); else SetReg(ins.Op0Register, result);
                break;
            }
            case Mnemonic.Cmpxchg8b:
            {
                if (ins.Op0Kind != OpKind.Memory) throw new GuestFault(6);
                int seg = SegOf(in ins); uint off = Ea(in ins);
                uint lo = Read32(seg, off), hi = Read32(seg, off + 4);
                if (lo == R[0] && hi == R[2])
                {
                    Write32(seg, off, R[3]); Write32(seg, off + 4, R[1]);
                    Flags_ |= ZF;
                }
                else
                {
                    Write32(seg, off, lo); Write32(seg, off + 4, hi);
                    R[0] = lo; R[2] = hi;
                    Flags_ &= ~ZF;
                }
                break;
            }
            case Mnemonic.Bt: BitTest(in ins, 0); break;
            case Mnemonic.Bts: BitTest(in ins, 1); break;
            case Mnemonic.Btr: BitTest(in ins, 2); break;
            case Mnemonic.Btc: BitTest(in ins, 3); break;
            case Mnemonic.Bsf:
            case Mnemonic.Bsr:
            // F3 0F BC/BD are TZCNT/LZCNT only with BMI1/ABM in CPUID; our P6 has neither, so the F3 prefix is
            // ignored and they run as BSF/BSR (SDM Vol. 2B TZCNT: "executes as BSF on processors without BMI1").
            // Linux's __ffs/variable_ffs emit "rep; bsf" on purpose and relies on this.
            case Mnemonic.Tzcnt:
            case Mnemonic.Lzcnt:
            {
                int size = Size0(in ins);
                uint v = ReadOp(in ins, 1, size) & SizeMask(size);
                if (v == 0) { Flags_ |= ZF; break; }
                uint idx = ins.Mnemonic is Mnemonic.Bsf or Mnemonic.Tzcnt ? (uint)BitOperations.TrailingZeroCount(v) : (uint)(31 - BitOperations.LeadingZeroCount(v));
                SetReg(ins.Op0Register, idx);
                Flags_ = (Flags_ & ~ArithFlags) | Szp(idx, size) & ~ZF;
                break;
            }
            case Mnemonic.Daa: Daa(); break;
            case Mnemonic.Das: Das(); break;
            case Mnemonic.Aaa: Aaa(); break;
            case Mnemonic.Aas: Aas(); break;
            case Mnemonic.Aam:
            {
                uint imm = ins.Immediate8;
                if (imm == 0) throw new GuestFault(0);
                uint al = R[0] & 0xFF;
                uint ah = al / imm; al %= imm;
                R[0] = (R[0] & 0xFFFF0000) | (ah << 8) | al;
                SetArith(Szp(al, 1));
                break;
            }
            case Mnemonic.Aad:
            {
                uint al = ((R[0] & 0xFF) + ((R[0] >> 8) & 0xFF) * ins.Immediate8) & 0xFF;
                R[0] = (R[0] & 0xFFFF0000) | al;
                SetArith(Szp(al, 1));
                break;
            }
            case Mnemonic.Salc: R[0] = (R[0] & 0xFFFFFF00) | ((Flags_ & CF) != 0 ? 0xFFu : 0); break;
            case Mnemonic.Clc: Flags_ &= ~CF; break;
            case Mnemonic.Stc: Flags_ |= CF; break;
            case Mnemonic.Cmc: Flags_ ^= CF; break;
            case Mnemonic.Cld: Flags_ &= ~DF; break;
            case Mnemonic.Std: Flags_ |= DF; break;
            case Mnemonic.Cli: ExecCli(); break;
            case Mnemonic.Sti: ExecSti(); break;
            case Mnemonic.Nop:
            case Mnemonic.Pause:
                break;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae:
            case Mnemonic.Cmove: case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova:
            case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
            {
                int size = Size0(in ins);
                uint v = ReadOp(in ins, 1, size); // memory is read even when the condition is false
                if (Condition(ins.ConditionCode)) SetReg(ins.Op0Register, v);
                break;
            }
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae:
            case Mnemonic.Sete: case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta:
            case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                WriteOp0(in ins, 1, Condition(ins.ConditionCode) ? 1u : 0);
                break;
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae:
            case Mnemonic.Je: case Mnemonic.Jne: case Mnemonic.Jbe: case Mnemonic.Ja:
            case Mnemonic.Js: case Mnemonic.Jns: case Mnemonic.Jp: case Mnemonic.Jnp:
            case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle: case Mnemonic.Jg:
                if (Condition(ins.ConditionCode)) NearJump(in ins);
                break;
            case Mnemonic.Jcxz: if ((R[1] & 0xFFFF) == 0) NearJump(in ins); break;
            case Mnemonic.Jecxz: if (R[1] == 0) NearJump(in ins); break;
            case Mnemonic.Loop:
            case Mnemonic.Loope:
            case Mnemonic.Loopne:
            {
                bool ecx = ins.Code is Code.Loop_rel8_16_ECX or Code.Loop_rel8_32_ECX or Code.Loope_rel8_16_ECX or Code.Loope_rel8_32_ECX or Code.Loopne_rel8_16_ECX or Code.Loopne_rel8_32_ECX;
                uint c;
                if (ecx) c = --R[1];
                else { c = (R[1] - 1) & 0xFFFF; R[1] = (R[1] & 0xFFFF0000) | c; }
                bool take = c != 0 && (ins.Mnemonic == Mnemonic.Loop || (ins.Mnemonic == Mnemonic.Loope) == ((Flags_ & ZF) != 0));
                if (take) NearJump(in ins);
                break;
            }
            case Mnemonic.Jmp: ExecJmp(in ins); break;
            case Mnemonic.Call: ExecCall(in ins); break;
            case Mnemonic.Ret:
            {
                int size = ins.Code is Code.Retnd or Code.Retnd_imm16 ? 4 : 2;
                uint target = Pop(size);
                if (ins.Op0Kind == OpKind.Immediate16) AdjustSp(ins.Immediate16);
                SetNearTarget(target);
                break;
            }
            case Mnemonic.Retf:
                FarReturn(ins.Code is Code.Retfd or Code.Retfd_imm16 ? 4 : 2, ins.Op0Kind == OpKind.Immediate16 ? ins.Immediate16 : 0u);
                break;
            case Mnemonic.Iret:
            case Mnemonic.Iretd:
                ExecIret(ins.Mnemonic == Mnemonic.Iretd ? 4 : 2);
                break;
            case Mnemonic.Int: SoftwareInterrupt(ins.Immediate8, InterruptSource.Software); break;
            case Mnemonic.Int3: SoftwareInterrupt(3, InterruptSource.Breakpoint); break;
            case Mnemonic.Int1: SoftwareInterrupt(1, InterruptSource.Icebp); break;
            case Mnemonic.Into: if ((Flags_ & OF) != 0) SoftwareInterrupt(4, InterruptSource.Breakpoint); break;
            case Mnemonic.Enter: ExecEnter(in ins); break;
            case Mnemonic.Leave:
            {
                int size = ins.Code == Code.Leaved ? 4 : 2;
                if (S[2].Big) R[4] = R[5]; else R[4] = (R[4] & 0xFFFF0000) | (R[5] & 0xFFFF);
                uint bp = Pop(size);
                if (size == 4) R[5] = bp; else R[5] = (R[5] & 0xFFFF0000) | bp;
                break;
            }
            case Mnemonic.Bound:
            {
                int seg = SegOf(in ins); uint off = Ea(in ins);
                int size = RegSize[(int)ins.Op0Register];
                int idx, lo, hi;
                // The upper bound's offset wraps with the address size, not the operand size (Bochs BOUND_GdMa).
                uint wrap = Address16(in ins) ? 0xFFFFu : 0xFFFF_FFFFu;
                if (size == 2) { idx = (short)GetReg(ins.Op0Register); lo = (short)Read16(seg, off); hi = (short)Read16(seg, (off + 2) & wrap); }
                else { idx = (int)GetReg(ins.Op0Register); lo = (int)Read32(seg, off); hi = (int)Read32(seg, (off + 4) & wrap); }
                if (idx < lo || idx > hi) throw new GuestFault(5);
                break;
            }
            case Mnemonic.Hlt:
                if (Cpl != 0) throw new GuestFault(13, 0);
                Halted_ = true;
                break;
            case Mnemonic.In:
            {
                int size = RegSize[(int)ins.Op0Register];
                ushort port = ins.Op1Kind == OpKind.Register ? (ushort)R[2] : ins.Immediate8;
                CheckIoPermission(port, size);
                SetReg(ins.Op0Register, _bus.In(port, size));
                CheckIoAccess(port, size);
                CheckMapGeneration();
                break;
            }
            case Mnemonic.Out:
            {
                int size = RegSize[(int)ins.Op1Register];
                ushort port = ins.Op0Kind == OpKind.Register ? (ushort)R[2] : ins.Immediate8;
                CheckIoPermission(port, size);
                _bus.Out(port, size, GetReg(ins.Op1Register));
                CheckIoAccess(port, size);
                CheckMapGeneration();
                break;
            }
            case Mnemonic.Movsb: case Mnemonic.Movsw:
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw:
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd:
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd:
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd:
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
                StringOp(in ins);
                break;
            case Mnemonic.Movsd:
            case Mnemonic.Cmpsd:
                if (ins.Code is Code.Movsd_m32_m32 or Code.Cmpsd_m32_m32) StringOp(in ins);
                else throw new GuestFault(6);
                break;
            case Mnemonic.Lds: LoadFarPointer(in ins, 3); break;
            case Mnemonic.Les: LoadFarPointer(in ins, 0); break;
            case Mnemonic.Lfs: LoadFarPointer(in ins, 4); break;
            case Mnemonic.Lgs: LoadFarPointer(in ins, 5); break;
            case Mnemonic.Lss: LoadFarPointer(in ins, 2); break;
            case Mnemonic.Cpuid: ExecCpuid(); break;
            case Mnemonic.Rdtsc:
            {
                if ((Cr4_ & CR4_TSD) != 0 && Cpl != 0 && ProtectedMode) throw new GuestFault(13, 0);
                ulong t = ReadTsc();
                R[0] = (uint)t; R[2] = (uint)(t >> 32);
                break;
            }
            case Mnemonic.Rdmsr: ExecRdmsr(); break;
            case Mnemonic.Rdpmc: ExecRdpmc(); break;
            case Mnemonic.Wrmsr: ExecWrmsr(); break;
            case Mnemonic.Lgdt:
            case Mnemonic.Lidt:
            case Mnemonic.Sgdt:
            case Mnemonic.Sidt:
                ExecDescriptorTableRegister(in ins);
                break;
            case Mnemonic.Lldt: case Mnemonic.Sldt: case Mnemonic.Ltr: case Mnemonic.Str:
            case Mnemonic.Lar: case Mnemonic.Lsl: case Mnemonic.Verr: case Mnemonic.Verw:
            case Mnemonic.Arpl:
                ExecProtectedModeOnly(in ins);
                break;
            case Mnemonic.Smsw:
                if (ins.Op0Kind == OpKind.Register) SetReg(ins.Op0Register, Cr0_);
                else Write16(SegOf(in ins), Ea(in ins), (ushort)Cr0_);
                break;
            case Mnemonic.Lmsw:
            {
                RequireCpl0();
                uint v = ReadOp(in ins, 0, 2) & 0xF;
                // LMSW can set PE but never clear it (SDM vol. 2 "LMSW").
                WriteCr0((Cr0_ & ~0xEu) | v | (Cr0_ & CR0_PE));
                break;
            }
            case Mnemonic.Clts: RequireCpl0(); Cr0_ &= ~CR0_TS; break;
            case Mnemonic.Invlpg:
                RequireCpl0();
                InvalidatePage(S[SegOf(in ins)].Base + Ea(in ins));
                break;
            case Mnemonic.Wbinvd:
            case Mnemonic.Invd:
                RequireCpl0();
                break;
            case Mnemonic.Wait: ExecWait(); break;
            default:
                if (IsX87(in ins)) { ExecuteX87(in ins); break; }
                throw new GuestFault(6);
        }
    }

    private void AluOp(in Instruction ins, int op)
    {
        int size = Size0(in ins);
        if (ins.Op0Kind == OpKind.Register)
        {
            uint r = Alu(op, GetReg(ins.Op0Register), ReadOp(in ins, 1, size), size);
            if (op != 7) SetReg(ins.Op0Register, r);
        }
        else
        {
            int seg = SegOf(in ins);
            uint off = Ea(in ins);
            uint a = ReadSized(seg, off, size);
            uint r = Alu(op, a, ReadOp(in ins, 1, size), size);
            if (op != 7) WriteSized(seg, off, size, r);
        }
    }

    private void Rmw(in Instruction ins, int op)
    {
        int size = Size0(in ins);
        bool mem = ins.Op0Kind == OpKind.Memory;
        int seg = mem ? SegOf(in ins) : 0;
        uint off = mem ? Ea(in ins) : 0;
        uint a = mem ? ReadSized(seg, off, size) : GetReg(ins.Op0Register);
        uint r = op switch
        {
            0 => Inc(a, size),
            1 => Dec(a, size),
            2 => Sub(0, a, 0, size),
            _ => ~a & SizeMask(size),
        };
        if (mem) WriteSized(seg, off, size, r); else SetReg(ins.Op0Register, r);
    }

    private void ShiftOp(in Instruction ins, int op)
    {
        int size = Size0(in ins);
        uint count = ins.Op1Kind switch
        {
            OpKind.Register => R[1] & 0xFF,
            _ => (uint)ins.GetImmediate(1),
        };
        bool mem = ins.Op0Kind == OpKind.Memory;
        int seg = mem ? SegOf(in ins) : 0;
        uint off = mem ? Ea(in ins) : 0;
        uint a = mem ? ReadSized(seg, off, size) : GetReg(ins.Op0Register);
        if ((count & 0x1F) == 0) return;
        uint r = Shift(op, a, count, size);
        if (mem) WriteSized(seg, off, size, r); else SetReg(ins.Op0Register, r);
    }

    private void ExecMov(in Instruction ins)
    {
        switch (ins.Code)
        {
            case Code.Mov_Sreg_rm16:
            case Code.Mov_Sreg_r32m16:
            {
                int seg = ins.Op0Register - Register.ES;
                if (seg == 1 || seg > 5) throw new GuestFault(6);
                ushort sel = (ushort)ReadOp(in ins, 1, 2);
                LoadSegment(seg, sel);
                if (seg == 2) Shadow = true;
                return;
            }
            case Code.Mov_rm16_Sreg:
            case Code.Mov_r32m16_Sreg:
            {
                int seg = ins.Op1Register - Register.ES;
                if (seg > 5) throw new GuestFault(6);
                uint sel = S[seg].Selector;
                if (ins.Op0Kind == OpKind.Register) SetReg(ins.Op0Register, sel);
                else Write16(SegOf(in ins), Ea(in ins), (ushort)sel);
                return;
            }
            case Code.Mov_r32_cr: ReadControlRegister(in ins); return;
            case Code.Mov_cr_r32: WriteControlRegister(in ins); return;
            case Code.Mov_r32_dr: ReadDebugRegister(in ins); return;
            case Code.Mov_dr_r32: WriteDebugRegister(in ins); return;
            case Code.Mov_r32_tr:
            case Code.Mov_tr_r32:
                throw new GuestFault(6); // test registers do not exist on a P6
        }
        int size = Size0(in ins);
        uint v = ReadOp(in ins, 1, size);
        WriteOp0(in ins, size, v);
    }

    private void MulDiv(in Instruction ins)
    {
        int size = ins.OpCount == 1 ? Size0(in ins) : RegSize[(int)ins.Op0Register];
        if (ins.OpCount >= 2)
        {
            // IMUL r, r/m (, imm): truncated signed product, CF = OF = the product did not fit.
            long a, b;
            if (ins.OpCount == 2) { a = SignExtend(GetReg(ins.Op0Register), size); b = SignExtend(ReadOp(in ins, 1, size), size); }
            else { a = SignExtend(ReadOp(in ins, 1, size), size); b = SignExtend((uint)ins.GetImmediate(2), size); }
            long p = a * b;
            uint r = (uint)p & SizeMask(size);
            uint f = Szp(r, size);
            if (p != SignExtend(r, size)) f |= CF | OF;
            SetArith(f);
            SetReg(ins.Op0Register, r);
            return;
        }
        uint src = ReadOp(in ins, 0, size);
        switch (ins.Mnemonic)
        {
            case Mnemonic.Mul:
            {
                ulong p = (ulong)(R[0] & SizeMask(size)) * src;
                StoreWide(p, size);
                bool high = size == 4 ? (p >> 32) != 0 : (p >> (8 * size)) != 0;
                SetArith(Szp((uint)p, size) | (high ? CF | OF : 0));
                break;
            }
            case Mnemonic.Imul:
            {
                long p = SignExtend(R[0], size) * SignExtend(src, size);
                StoreWide((ulong)p, size);
                bool fits = p == SignExtend((uint)p & SizeMask(size), size);
                SetArith(Szp((uint)p, size) | (fits ? 0 : CF | OF));
                break;
            }
            case Mnemonic.Div:
            {
                src &= SizeMask(size);
                if (src == 0) throw new GuestFault(0);
                ulong dividend = LoadWide(size);
                ulong q = dividend / src, rem = dividend % src;
                if (q > SizeMask(size)) throw new GuestFault(0);
                StoreQuotient((uint)q, (uint)rem, size);
                break;
            }
            default:
            {
                long d = SignExtend(src, size);
                if (d == 0) throw new GuestFault(0);
                long dividend = size switch
                {
                    1 => (short)R[0],
                    2 => (int)((R[2] << 16) | (R[0] & 0xFFFF)),
                    _ => (long)(((ulong)R[2] << 32) | R[0]),
                };
                if (size == 4 && dividend == long.MinValue && d == -1) throw new GuestFault(0);
                long q = dividend / d, rem = dividend % d;
                long max = (1L << (8 * size - 1)) - 1;
                if (q > max || q < -max - 1) throw new GuestFault(0);
                StoreQuotient((uint)q, (uint)rem, size);
                break;
            }
        }
    }

    private static long SignExtend(uint v, int size) => size switch
    {
        1 => (sbyte)v,
        2 => (short)v,
        _ => (int)v,
    };

    private ulong LoadWide(int size) => size switch
    {
        1 => R[0] & 0xFFFF,
        2 => ((R[2] & 0xFFFF) << 16) | (R[0] & 0xFFFF),
        _ => ((ulong)R[2] << 32) | R[0],
    };

    private void StoreWide(ulong p, int size)
    {
        switch (size)
        {
            case 1: R[0] = (R[0] & 0xFFFF0000) | (uint)(p & 0xFFFF); break;
            case 2: R[0] = (R[0] & 0xFFFF0000) | (uint)(p & 0xFFFF); R[2] = (R[2] & 0xFFFF0000) | (uint)((p >> 16) & 0xFFFF); break;
            default: R[0] = (uint)p; R[2] = (uint)(p >> 32); break;
        }
    }

    private void StoreQuotient(uint q, uint rem, int size)
    {
        switch (size)
        {
            case 1: R[0] = (R[0] & 0xFFFF0000) | ((rem & 0xFF) << 8) | (q & 0xFF); break;
            case 2: R[0] = (R[0] & 0xFFFF0000) | (q & 0xFFFF); R[2] = (R[2] & 0xFFFF0000) | (rem & 0xFFFF); break;
            default: R[0] = q; R[2] = rem; break;
        }
    }

    private void BitTest(in Instruction ins, int op)
    {
        int size = Size0(in ins);
        int bits = 8 * size;
        uint bit;
        bool mem = ins.Op0Kind == OpKind.Memory;
        int seg = 0; uint off = 0;
        if (ins.Op1Kind == OpKind.Register)
        {
            uint raw = GetReg(ins.Op1Register);
            if (mem)
            {
                // A register bit offset is signed and can reach outside the addressed operand (SDM vol. 2 "BT").
                long sbit = size == 2 ? (short)raw : (int)raw;
                long disp = (sbit >> (size == 2 ? 4 : 5)) * size;
                seg = SegOf(in ins);
                off = Ea(in ins) + (uint)disp;
                if (IsAddress16(in ins)) off &= 0xFFFF;
            }
            bit = raw & (uint)(bits - 1);
        }
        else
        {
            bit = ins.Immediate8 & (uint)(bits - 1);
            if (mem) { seg = SegOf(in ins); off = Ea(in ins); }
        }
        uint v = mem ? ReadSized(seg, off, size) : GetReg(ins.Op0Register);
        uint mask = 1u << (int)bit;
        Flags_ = (Flags_ & ~CF) | ((v & mask) != 0 ? CF : 0);
        if (op == 0) return;
        uint r = op switch { 1 => v | mask, 2 => v & ~mask, _ => v ^ mask };
        if (mem) WriteSized(seg, off, size, r); else SetReg(ins.Op0Register, r);
    }

    internal static bool IsAddress16(in Instruction ins)
    {
        Register b = ins.MemoryBase, x = ins.MemoryIndex;
        if (b != Register.None) return RegSize[(int)b] == 2;
        if (x != Register.None) return RegSize[(int)x] == 2;
        return ins.MemoryDisplSize == 2;
    }

    private void Daa()
    {
        uint al = R[0] & 0xFF, oldAl = al;
        bool oldCf = (Flags_ & CF) != 0, cf = false, af = false;
        if ((al & 0xF) > 9 || (Flags_ & AF) != 0) { cf = oldCf || al > 0xF9; al = (al + 6) & 0xFF; af = true; }
        if (oldAl > 0x99 || oldCf) { al = (al + 0x60) & 0xFF; cf = true; }
        R[0] = (R[0] & 0xFFFFFF00) | al;
        SetArith(Szp(al, 1) | (cf ? CF : 0) | (af ? AF : 0));
    }

    private void Das()
    {
        uint al = R[0] & 0xFF, oldAl = al;
        bool oldCf = (Flags_ & CF) != 0, cf = false, af = false;
        if ((al & 0xF) > 9 || (Flags_ & AF) != 0) { cf = oldCf || al < 6; al = (al - 6) & 0xFF; af = true; }
        if (oldAl > 0x99 || oldCf) { al = (al - 0x60) & 0xFF; cf = true; }
        R[0] = (R[0] & 0xFFFFFF00) | al;
        SetArith(Szp(al, 1) | (cf ? CF : 0) | (af ? AF : 0));
    }

    private void Aaa()
    {
        uint ax = R[0] & 0xFFFF;
        uint f;
        if ((ax & 0xF) > 9 || (Flags_ & AF) != 0) { ax = (ax + 0x106) & 0xFFFF; f = AF | CF; }
        else f = 0;
        ax &= 0xFF0F;
        R[0] = (R[0] & 0xFFFF0000) | ax;
        SetArith(f | Szp(ax & 0xFF, 1));
    }

    private void Aas()
    {
        uint ax = R[0] & 0xFFFF;
        uint f;
        if ((ax & 0xF) > 9 || (Flags_ & AF) != 0)
        {
            // SDM "AAS": AX ← AX − 6 (the borrow reaches AH), then AH ← AH − 1.
            ax = (ax - 6) & 0xFFFF;
            ax = (ax - 0x100) & 0xFFFF;
            f = AF | CF;
        }
        else f = 0;
        ax &= 0xFF0F;
        R[0] = (R[0] & 0xFFFF0000) | ax;
        SetArith(f | Szp(ax & 0xFF, 1));
    }

    private void ExecEnter(in Instruction ins)
    {
        int size = ins.Code == Code.Enterd_imm16_imm8 ? 4 : 2;
        uint alloc = ins.Immediate16;
        int level = ins.Immediate8_2nd & 31;
        bool big = S[2].Big;
        Push(R[5], size);
        // FrameTemp is ESP for a 32-bit operand size and SP for 16, whatever the stack size (SDM vol. 2 "ENTER").
        uint frame = size == 4 ? R[4] : R[4] & 0xFFFF;
        if (level > 0)
        {
            uint bp = big ? R[5] : R[5] & 0xFFFF;
            for (int k = 1; k < level; k++)
            {
                bp = big ? bp - (uint)size : (bp - (uint)size) & 0xFFFF;
                Push(ReadSized(2, bp, size), size);
            }
            Push(frame, size);
        }
        uint sp = big ? R[4] - alloc : (R[4] - alloc) & 0xFFFF;
        // ENTER ends with a write check of the final stack pointer: a page the CPL cannot write there is #PF (or a
        // segment limit #SS) before EBP and ESP change (Bochs: a read-modify-write probe of SS:ESP; nothing is written).
        if (alloc != 0)
        {
            uint lin = LinearForWrite(2, sp, (uint)size);
            Translate(lin, write: true, user: Cpl == 3);
            Translate(lin + (uint)size - 1, write: true, user: Cpl == 3);
        }
        if (size == 4) R[5] = frame; else R[5] = (R[5] & 0xFFFF0000) | (frame & 0xFFFF);
        if (big) R[4] = sp;
        else R[4] = (R[4] & 0xFFFF0000) | sp;
    }

    private void LoadFarPointer(in Instruction ins, int seg)
    {
        if (ins.Op1Kind != OpKind.Memory) throw new GuestFault(6);
        int size = RegSize[(int)ins.Op0Register];
        int ms = SegOf(in ins);
        uint off = Ea(in ins);
        uint offset = ReadSized(ms, off, size);
        ushort sel = Read16(ms, off + (uint)size);
        LoadSegment(seg, sel);
        SetReg(ins.Op0Register, offset);
    }

    private void RequireCpl0()
    {
        if (Cpl != 0) throw new GuestFault(13, 0);
    }
}
