using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// Hand-specialised handlers for the instruction forms that dominate 32-bit compiled code. Each returns false
// when the operands are not the common shape, and the general mnemonic switch takes over.
public sealed partial class X86Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int R32(Register r) => r - Register.EAX;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Add32(uint a, uint b)
    {
        uint r = a + b;
        uint f = Parity[r & 0xFF] | ((a ^ b ^ r) & AF) | ((r >> 24) & SF) | ((((a ^ r) & (b ^ r)) >> 20) & OF);
        if (r == 0) f |= ZF;
        if (r < a) f |= CF;
        Flags_ = (Flags_ & ~ArithFlags) | f;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Sub32(uint a, uint b)
    {
        uint r = a - b;
        uint f = Parity[r & 0xFF] | ((a ^ b ^ r) & AF) | ((r >> 24) & SF) | ((((a ^ b) & (a ^ r)) >> 20) & OF);
        if (r == 0) f |= ZF;
        if (a < b) f |= CF;
        Flags_ = (Flags_ & ~ArithFlags) | f;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Logic32(uint r)
    {
        uint f = Parity[r & 0xFF] | ((r >> 24) & SF);
        if (r == 0) f |= ZF;
        Flags_ = (Flags_ & ~ArithFlags) | f;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Alu32(int op, uint a, uint b) => op switch
    {
        0 => Add32(a, b),
        1 => Logic32(a | b),
        4 => Logic32(a & b),
        5 => Sub32(a, b),
        6 => Logic32(a ^ b),
        _ => Sub32(a, b),
    };

    /// <summary>ALU op on a 32-bit destination with a 32-bit source value (register, memory or immediate).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Alu32Dest(in Instruction ins, int op, uint src)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            int d = R32(ins.Op0Register);
            uint r = Alu32(op, R[d], src);
            if (op != 7) R[d] = r;
        }
        else
        {
            int seg = SegOf(in ins);
            uint off = Ea(in ins);
            uint r = Alu32(op, Read32(seg, off), src);
            if (op != 7) Write32(seg, off, r);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Rm32(in Instruction ins, int n) =>
        ins.GetOpKind(n) == OpKind.Register ? R[R32(ins.GetOpRegister(n))] : Read32(SegOf(in ins), Ea(in ins));

    /// <summary>PUSH of a dword on a 32-bit (B=1) stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push32(uint v)
    {
        uint sp = R[4] - 4;
        Write32(2, sp, v);
        R[4] = sp;
    }

    /// <summary>Executes the instruction if it is one of the hot 32-bit forms; false sends it to the general switch.</summary>
    private bool ExecuteFast(in Instruction ins)
    {
        switch (ins.Code)
        {
            case Code.Mov_r32_rm32:
                R[R32(ins.Op0Register)] = Rm32(in ins, 1);
                return true;
            case Code.Mov_rm32_r32:
                if (ins.Op0Kind == OpKind.Register) R[R32(ins.Op0Register)] = R[R32(ins.Op1Register)];
                else Write32(SegOf(in ins), Ea(in ins), R[R32(ins.Op1Register)]);
                return true;
            case Code.Mov_r32_imm32:
                R[R32(ins.Op0Register)] = ins.Immediate32;
                return true;
            case Code.Mov_rm32_imm32:
                if (ins.Op0Kind == OpKind.Register) R[R32(ins.Op0Register)] = ins.Immediate32;
                else Write32(SegOf(in ins), Ea(in ins), ins.Immediate32);
                return true;
            case Code.Add_rm32_r32: Alu32Dest(in ins, 0, R[R32(ins.Op1Register)]); return true;
            case Code.Or_rm32_r32: Alu32Dest(in ins, 1, R[R32(ins.Op1Register)]); return true;
            case Code.And_rm32_r32: Alu32Dest(in ins, 4, R[R32(ins.Op1Register)]); return true;
            case Code.Sub_rm32_r32: Alu32Dest(in ins, 5, R[R32(ins.Op1Register)]); return true;
            case Code.Xor_rm32_r32: Alu32Dest(in ins, 6, R[R32(ins.Op1Register)]); return true;
            case Code.Cmp_rm32_r32: Alu32Dest(in ins, 7, R[R32(ins.Op1Register)]); return true;
            case Code.Add_r32_rm32: Alu32Dest(in ins, 0, Rm32(in ins, 1)); return true;
            case Code.Or_r32_rm32: Alu32Dest(in ins, 1, Rm32(in ins, 1)); return true;
            case Code.And_r32_rm32: Alu32Dest(in ins, 4, Rm32(in ins, 1)); return true;
            case Code.Sub_r32_rm32: Alu32Dest(in ins, 5, Rm32(in ins, 1)); return true;
            case Code.Xor_r32_rm32: Alu32Dest(in ins, 6, Rm32(in ins, 1)); return true;
            case Code.Cmp_r32_rm32: Alu32Dest(in ins, 7, Rm32(in ins, 1)); return true;
            case Code.Add_rm32_imm8: Alu32Dest(in ins, 0, (uint)ins.Immediate8to32); return true;
            case Code.Or_rm32_imm8: Alu32Dest(in ins, 1, (uint)ins.Immediate8to32); return true;
            case Code.And_rm32_imm8: Alu32Dest(in ins, 4, (uint)ins.Immediate8to32); return true;
            case Code.Sub_rm32_imm8: Alu32Dest(in ins, 5, (uint)ins.Immediate8to32); return true;
            case Code.Xor_rm32_imm8: Alu32Dest(in ins, 6, (uint)ins.Immediate8to32); return true;
            case Code.Cmp_rm32_imm8: Alu32Dest(in ins, 7, (uint)ins.Immediate8to32); return true;
            case Code.Add_rm32_imm32: Alu32Dest(in ins, 0, ins.Immediate32); return true;
            case Code.Or_rm32_imm32: Alu32Dest(in ins, 1, ins.Immediate32); return true;
            case Code.And_rm32_imm32: Alu32Dest(in ins, 4, ins.Immediate32); return true;
            case Code.Sub_rm32_imm32: Alu32Dest(in ins, 5, ins.Immediate32); return true;
            case Code.Xor_rm32_imm32: Alu32Dest(in ins, 6, ins.Immediate32); return true;
            case Code.Cmp_rm32_imm32: Alu32Dest(in ins, 7, ins.Immediate32); return true;
            case Code.Add_EAX_imm32: R[0] = Add32(R[0], ins.Immediate32); return true;
            case Code.Sub_EAX_imm32: R[0] = Sub32(R[0], ins.Immediate32); return true;
            case Code.Cmp_EAX_imm32: Sub32(R[0], ins.Immediate32); return true;
            case Code.And_EAX_imm32: R[0] = Logic32(R[0] & ins.Immediate32); return true;
            case Code.Test_rm32_r32: Logic32(Rm32(in ins, 0) & R[R32(ins.Op1Register)]); return true;
            case Code.Inc_r32:
            {
                int d = R32(ins.Op0Register);
                uint cf = Flags_ & CF;
                R[d] = Add32(R[d], 1);
                Flags_ = (Flags_ & ~CF) | cf;
                return true;
            }
            case Code.Dec_r32:
            {
                int d = R32(ins.Op0Register);
                uint cf = Flags_ & CF;
                R[d] = Sub32(R[d], 1);
                Flags_ = (Flags_ & ~CF) | cf;
                return true;
            }
            case Code.Lea_r32_m:
                if (RegSize[(int)ins.MemoryBase] == 2 || RegSize[(int)ins.MemoryIndex] == 2) return false;
                R[R32(ins.Op0Register)] = Ea(in ins);
                return true;
            case Code.Push_r32:
                if (!S[2].Big) return false;
                Push32(R[R32(ins.Op0Register)]);
                return true;
            case Code.Pop_r32:
            {
                if (!S[2].Big) return false;
                uint v = Read32(2, R[4]);
                R[4] += 4;
                R[R32(ins.Op0Register)] = v;
                return true;
            }
            case Code.Call_rel32_32:
            {
                if (!S[2].Big) return false;
                uint target = Eip_ + ((uint)ins.NearBranchTarget - (uint)ins.NextIP);
                if (target > CsLimit) throw new GuestFault(13, 0);
                Push32(Eip_);
                Eip_ = target;
                return true;
            }
            case Code.Retnd:
            {
                if (!S[2].Big) return false;
                uint target = Read32(2, R[4]);
                if (target > CsLimit) throw new GuestFault(13, 0);
                R[4] += 4;
                Eip_ = target;
                return true;
            }
            case Code.Jmp_rel8_32:
            case Code.Jmp_rel32_32:
                SetNearTarget(Eip_ + ((uint)ins.NearBranchTarget - (uint)ins.NextIP));
                return true;
            case Code.Jne_rel8_32:
            case Code.Jne_rel32_32:
                if ((Flags_ & ZF) == 0) SetNearTarget(Eip_ + ((uint)ins.NearBranchTarget - (uint)ins.NextIP));
                return true;
            case Code.Je_rel8_32:
            case Code.Je_rel32_32:
                if ((Flags_ & ZF) != 0) SetNearTarget(Eip_ + ((uint)ins.NearBranchTarget - (uint)ins.NextIP));
                return true;
            default:
                return false;
        }
    }
}
