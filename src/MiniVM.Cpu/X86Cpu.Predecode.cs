using Iced.Intel;

namespace MiniVM.Cpu;

// Decode-time classification: which specialised handler (if any) runs an instruction, with its operands
// extracted into the DecodedOp's plain fields. Runs once per cached instruction, so it may be as slow as it likes.
public sealed partial class X86Cpu
{
    private bool _specialised = true;

    /// <summary>
    /// True (the default): the common 32-bit instruction shapes run through specialised handlers with lazy flags.
    /// False sends every instruction through the general interpreter, the reference the handlers are tested
    /// against. Changing it drops all decoded code.
    /// </summary>
    public bool SpecialisedForms
    {
        get => _specialised;
        set
        {
            _specialised = value;
            _mem.Code.InvalidateAll();
            _fetchPage = uint.MaxValue;
        }
    }

    private void Predecode(ref DecodedOp d, int bitness)
    {
        ref Instruction ins = ref d.Ins;
        d.Length = (byte)ins.Length;
        d.Form = FastForm.General;
        // The scratch entry is reused: clear what an earlier instruction left behind.
        d.Reg0 = d.Reg1 = d.Aux = d.Scale = 0;
        d.Base = d.Index = 8;
        d.Seg = 3;
        d.EaMask = 0xFFFFFFFF;
        d.Disp = d.Imm = 0;
        d.Heat = 0;
        d.HeatRounds = 0;
        d.Block = null;
        // Execute wraps EIP past a 16-bit instruction; the forms themselves follow the operand and address sizes
        // that Iced's Code and the memory descriptor already carry, so they serve both code sizes.
        if (!_specialised || ins.Code == Code.INVALID) return;
        bool mem = false;
        for (int n = 0; n < ins.OpCount; n++) if (ins.GetOpKind(n) == OpKind.Memory) mem = true;
        if (mem && !DescribeMemory(ref d)) return;
        d.Form = Classify(ref d, mem);
    }

    /// <summary>Fills the base+index*scale+disp descriptor; false for shapes the descriptor cannot express.</summary>
    private static bool DescribeMemory(ref DecodedOp d)
    {
        ref Instruction ins = ref d.Ins;
        Register b = ins.MemoryBase, x = ins.MemoryIndex;
        if (b != Register.None && RegSize[(int)b] is not (2 or 4)) return false;
        if (x != Register.None && RegSize[(int)x] is not (2 or 4)) return false;
        int segment = ins.MemorySegment - Register.ES;
        if ((uint)segment > 5) return false;
        bool a16 = b != Register.None ? RegSize[(int)b] == 2 : x != Register.None ? RegSize[(int)x] == 2 : ins.MemoryDisplSize == 2;
        d.Base = b == Register.None ? (byte)8 : RegIndex[(int)b];
        d.Index = x == Register.None ? (byte)8 : RegIndex[(int)x];
        d.Scale = (byte)System.Numerics.BitOperations.Log2((uint)ins.MemoryIndexScale);
        d.Disp = ins.MemoryDisplacement32;
        d.EaMask = a16 ? 0xFFFFu : 0xFFFFFFFFu;
        d.Seg = (byte)segment;
        return true;
    }

    private static FastForm Classify(ref DecodedOp d, bool mem)
    {
        ref Instruction ins = ref d.Ins;
        byte r0 = RegIndex[(int)ins.Op0Register], r1 = ins.OpCount > 1 ? RegIndex[(int)ins.Op1Register] : (byte)0;
        bool reg0 = ins.Op0Kind == OpKind.Register;
        bool reg1 = ins.OpCount > 1 && ins.Op1Kind == OpKind.Register;
        d.Reg0 = r0;
        d.Reg1 = r1;
        switch (ins.Code)
        {
            case Code.Mov_r32_rm32: return reg1 ? FastForm.MovRR : FastForm.MovRM;
            case Code.Mov_rm32_r32: return reg0 ? FastForm.MovRR : FastForm.MovMR;
            case Code.Mov_r32_imm32:
            case Code.Mov_rm32_imm32:
                d.Imm = ins.Immediate32;
                return reg0 ? FastForm.MovRI : FastForm.MovMI;
            case Code.Mov_r8_rm8:
                d.Reg0 = (byte)ins.Op0Register; d.Reg1 = (byte)ins.Op1Register;
                return reg1 ? FastForm.MovR8R8 : FastForm.MovR8M;
            case Code.Mov_rm8_r8:
                d.Reg0 = (byte)ins.Op0Register; d.Reg1 = (byte)ins.Op1Register;
                return reg0 ? FastForm.MovR8R8 : FastForm.MovM8R;
            case Code.Mov_r8_imm8:
            case Code.Mov_rm8_imm8:
                d.Reg0 = (byte)ins.Op0Register; d.Imm = ins.Immediate8;
                return reg0 ? FastForm.MovR8I : FastForm.MovM8I;
            case Code.Mov_rm16_r16: return mem ? FastForm.MovM16R : FastForm.MovR16R16;
            case Code.Mov_r16_rm16: return mem ? FastForm.MovR16M : FastForm.MovR16R16;
            case Code.Mov_rm16_imm16:
                d.Imm = ins.Immediate16;
                return mem ? FastForm.MovM16I : FastForm.MovR16I;
            case Code.Movzx_r32_rm8:
                d.Reg1 = (byte)ins.Op1Register;
                return reg1 ? FastForm.MovzxR8 : FastForm.MovzxM8;
            case Code.Movzx_r32_rm16: return reg1 ? FastForm.MovzxR16 : FastForm.MovzxM16;
            case Code.Movsx_r32_rm8:
                d.Reg1 = (byte)ins.Op1Register;
                return reg1 ? FastForm.MovsxR8 : FastForm.MovsxM8;
            case Code.Movsx_r32_rm16: return reg1 ? FastForm.MovsxR16 : FastForm.MovsxM16;

            case Code.Add_rm32_r32: return reg0 ? FastForm.AddRR : FastForm.AddMR;
            case Code.Add_r32_rm32: return reg1 ? FastForm.AddRR : FastForm.AddRM;
            case Code.Or_rm32_r32: return reg0 ? FastForm.OrRR : FastForm.OrMR;
            case Code.Or_r32_rm32: return reg1 ? FastForm.OrRR : FastForm.OrRM;
            case Code.And_rm32_r32: return reg0 ? FastForm.AndRR : FastForm.AndMR;
            case Code.And_r32_rm32: return reg1 ? FastForm.AndRR : FastForm.AndRM;
            case Code.Sub_rm32_r32: return reg0 ? FastForm.SubRR : FastForm.SubMR;
            case Code.Sub_r32_rm32: return reg1 ? FastForm.SubRR : FastForm.SubRM;
            case Code.Xor_rm32_r32: return reg0 ? FastForm.XorRR : FastForm.XorMR;
            case Code.Xor_r32_rm32: return reg1 ? FastForm.XorRR : FastForm.XorRM;
            case Code.Cmp_rm32_r32: return reg0 ? FastForm.CmpRR : FastForm.CmpMR;
            case Code.Cmp_r32_rm32: return reg1 ? FastForm.CmpRR : FastForm.CmpRM;
            case Code.Test_rm32_r32: return reg0 ? FastForm.TestRR : FastForm.TestMR;
            case Code.Add_rm32_imm8: case Code.Add_rm32_imm32: case Code.Add_EAX_imm32: return WithImm(ref d, reg0, FastForm.AddRI, FastForm.AddMI);
            case Code.Or_rm32_imm8: case Code.Or_rm32_imm32: case Code.Or_EAX_imm32: return WithImm(ref d, reg0, FastForm.OrRI, FastForm.OrMI);
            case Code.And_rm32_imm8: case Code.And_rm32_imm32: case Code.And_EAX_imm32: return WithImm(ref d, reg0, FastForm.AndRI, FastForm.AndMI);
            case Code.Sub_rm32_imm8: case Code.Sub_rm32_imm32: case Code.Sub_EAX_imm32: return WithImm(ref d, reg0, FastForm.SubRI, FastForm.SubMI);
            case Code.Xor_rm32_imm8: case Code.Xor_rm32_imm32: case Code.Xor_EAX_imm32: return WithImm(ref d, reg0, FastForm.XorRI, FastForm.XorMI);
            case Code.Cmp_rm32_imm8: case Code.Cmp_rm32_imm32: case Code.Cmp_EAX_imm32: return WithImm(ref d, reg0, FastForm.CmpRI, FastForm.CmpMI);
            case Code.Test_rm32_imm32: case Code.Test_EAX_imm32: return WithImm(ref d, reg0, FastForm.TestRI, FastForm.TestMI);

            case Code.Cmp_rm8_r8:
                d.Reg0 = (byte)ins.Op0Register; d.Reg1 = (byte)ins.Op1Register;
                return reg0 ? FastForm.Cmp8RR : FastForm.Cmp8MR;
            case Code.Cmp_r8_rm8:
                d.Reg0 = (byte)ins.Op0Register; d.Reg1 = (byte)ins.Op1Register;
                return reg1 ? FastForm.Cmp8RR : FastForm.Cmp8RM;
            case Code.Cmp_rm8_imm8: case Code.Cmp_rm8_imm8_82: case Code.Cmp_AL_imm8:
                d.Reg0 = (byte)ins.Op0Register; d.Imm = ins.Immediate8;
                return reg0 ? FastForm.Cmp8RI : FastForm.Cmp8MI;
            case Code.Test_rm8_r8:
                d.Reg0 = (byte)ins.Op0Register; d.Reg1 = (byte)ins.Op1Register;
                return reg0 ? FastForm.Test8RR : FastForm.General;
            case Code.Test_rm8_imm8: case Code.Test_rm8_imm8_F6r1: case Code.Test_AL_imm8:
                d.Reg0 = (byte)ins.Op0Register; d.Imm = ins.Immediate8;
                return reg0 ? FastForm.Test8RI : FastForm.Test8MI;

            case Code.Inc_r32: return FastForm.IncR;
            case Code.Dec_r32: return FastForm.DecR;
            case Code.Inc_rm32: return reg0 ? FastForm.IncR : FastForm.IncM;
            case Code.Dec_rm32: return reg0 ? FastForm.DecR : FastForm.DecM;

            case Code.Rol_rm32_imm8: case Code.Ror_rm32_imm8: case Code.Shl_rm32_imm8: case Code.Shr_rm32_imm8: case Code.Sar_rm32_imm8:
                if (!reg0) return FastForm.General;
                d.Aux = ShiftGroupOp(ins.Mnemonic); d.Imm = ins.Immediate8;
                return FastForm.ShiftRI;
            case Code.Rol_rm32_1: case Code.Ror_rm32_1: case Code.Shl_rm32_1: case Code.Shr_rm32_1: case Code.Sar_rm32_1:
                if (!reg0) return FastForm.General;
                d.Aux = ShiftGroupOp(ins.Mnemonic); d.Imm = 1;
                return FastForm.ShiftRI;
            case Code.Rol_rm32_CL: case Code.Ror_rm32_CL: case Code.Shl_rm32_CL: case Code.Shr_rm32_CL: case Code.Sar_rm32_CL:
                if (!reg0) return FastForm.General;
                d.Aux = ShiftGroupOp(ins.Mnemonic);
                return FastForm.ShiftRCl;

            case Code.Lea_r32_m: return FastForm.Lea;
            case Code.Push_r32: return FastForm.PushR;
            case Code.Push_rm32: return reg0 ? FastForm.PushR : FastForm.PushM;
            case Code.Pushd_imm8: case Code.Pushd_imm32:
                d.Imm = (uint)ins.GetImmediate(0);
                return FastForm.PushI;
            case Code.Pop_r32: return FastForm.PopR;
            case Code.Pop_rm32: return reg0 ? FastForm.PopR : FastForm.General;

            case Code.Call_rel32_32:
                d.Imm = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
                return FastForm.CallRel;
            case Code.Call_rm32: return reg0 ? FastForm.CallR : FastForm.CallM;
            case Code.Retnd: return FastForm.Ret;
            case Code.Retnd_imm16:
                d.Imm = ins.Immediate16;
                return FastForm.RetImm;
            case Code.Jmp_rel8_32: case Code.Jmp_rel32_32:
                d.Imm = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
                return FastForm.JmpRel;
            case Code.Jmp_rm32: return reg0 ? FastForm.JmpR : FastForm.JmpM;

            case Code.Imul_r32_rm32: return reg1 ? FastForm.ImulRR : FastForm.ImulRM;
            case Code.Imul_r32_rm32_imm8: case Code.Imul_r32_rm32_imm32:
                d.Imm = (uint)ins.GetImmediate(2);
                return reg1 ? FastForm.ImulRRI : FastForm.ImulRMI;
            case Code.Leaved: return FastForm.Leave;
            case Code.Cdq: return FastForm.Cdq;
            case Code.Nopd: case Code.Nop_rm32: case Code.Nopw: case Code.Nop_rm16: return FastForm.Nop;
            case Code.Xchg_r32_EAX: case Code.Xchg_rm32_r32: return reg0 && reg1 ? FastForm.Xchg : FastForm.General;

            case Code.Mov_r16_imm16: d.Imm = ins.Immediate16; return FastForm.MovR16I;
            case Code.Add_rm16_r16: case Code.Or_rm16_r16: case Code.Adc_rm16_r16: case Code.Sbb_rm16_r16:
            case Code.And_rm16_r16: case Code.Sub_rm16_r16: case Code.Xor_rm16_r16: case Code.Cmp_rm16_r16:
                d.Aux = AluOp(ins.Mnemonic);
                return reg0 ? FastForm.Alu16RR : FastForm.Alu16MR;
            case Code.Add_r16_rm16: case Code.Or_r16_rm16: case Code.Adc_r16_rm16: case Code.Sbb_r16_rm16:
            case Code.And_r16_rm16: case Code.Sub_r16_rm16: case Code.Xor_r16_rm16: case Code.Cmp_r16_rm16:
                d.Aux = AluOp(ins.Mnemonic);
                return reg1 ? FastForm.Alu16RR : FastForm.Alu16RM;
            case Code.Add_rm16_imm8: case Code.Or_rm16_imm8: case Code.Adc_rm16_imm8: case Code.Sbb_rm16_imm8:
            case Code.And_rm16_imm8: case Code.Sub_rm16_imm8: case Code.Xor_rm16_imm8: case Code.Cmp_rm16_imm8:
            case Code.Add_rm16_imm16: case Code.Or_rm16_imm16: case Code.Adc_rm16_imm16: case Code.Sbb_rm16_imm16:
            case Code.And_rm16_imm16: case Code.Sub_rm16_imm16: case Code.Xor_rm16_imm16: case Code.Cmp_rm16_imm16:
            case Code.Add_AX_imm16: case Code.Or_AX_imm16: case Code.Adc_AX_imm16: case Code.Sbb_AX_imm16:
            case Code.And_AX_imm16: case Code.Sub_AX_imm16: case Code.Xor_AX_imm16: case Code.Cmp_AX_imm16:
                d.Aux = AluOp(ins.Mnemonic);
                return WithImm(ref d, reg0, FastForm.Alu16RI, FastForm.Alu16MI);
            case Code.Test_rm16_r16: return reg0 ? FastForm.Test16RR : FastForm.General;
            case Code.Test_rm16_imm16: case Code.Test_AX_imm16: return reg0 ? WithImm(ref d, true, FastForm.Test16RI, FastForm.General) : FastForm.General;
            case Code.Inc_r16: return FastForm.IncR16;
            case Code.Dec_r16: return FastForm.DecR16;
            case Code.Lea_r16_m: return FastForm.LeaR16;
            case Code.Push_r16: return FastForm.PushR16;
            case Code.Pop_r16: return FastForm.PopR16;
            case Code.Jmp_rel8_16: case Code.Jmp_rel16:
                d.Imm = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
                return FastForm.JmpRel16;
            case Code.Call_rel16:
                d.Imm = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
                return FastForm.CallRel16;
            case Code.Retnw: return FastForm.Ret16;
        }
        if (ins.IsJccShortOrNear && ins.Op0Kind == OpKind.NearBranch16)
        {
            d.Aux = (byte)ins.ConditionCode;
            d.Imm = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
            return FastForm.Jcc16;
        }
        if (ins.IsJccShortOrNear && ins.Op0Kind == OpKind.NearBranch32)
        {
            d.Aux = (byte)ins.ConditionCode;
            d.Imm = (uint)ins.NearBranchTarget - (uint)ins.NextIP;
            return ins.ConditionCode switch
            {
                ConditionCode.e => FastForm.Jz,
                ConditionCode.ne => FastForm.Jnz,
                _ => FastForm.Jcc,
            };
        }
        switch (ins.Mnemonic)
        {
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae:
            case Mnemonic.Sete: case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta:
            case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                d.Aux = (byte)ins.ConditionCode;
                d.Reg0 = (byte)ins.Op0Register;
                return reg0 ? FastForm.SetccR8 : FastForm.SetccM8;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae:
            case Mnemonic.Cmove: case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova:
            case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
                if (RegSize[(int)ins.Op0Register] != 4) return FastForm.General;
                d.Aux = (byte)ins.ConditionCode;
                return reg1 ? FastForm.CmovRR : FastForm.CmovRM;
        }
        return FastForm.General;
    }

    private static FastForm WithImm(ref DecodedOp d, bool reg0, FastForm toRegister, FastForm toMemory)
    {
        d.Imm = (uint)d.Ins.GetImmediate(1);
        return reg0 ? toRegister : toMemory;
    }

    /// <summary>The ALU op numbering of <see cref="Alu"/> (opcodes 00–3F order).</summary>
    private static byte AluOp(Mnemonic m) => m switch
    {
        Mnemonic.Add => 0,
        Mnemonic.Or => 1,
        Mnemonic.Adc => 2,
        Mnemonic.Sbb => 3,
        Mnemonic.And => 4,
        Mnemonic.Sub => 5,
        Mnemonic.Xor => 6,
        _ => 7,
    };

    /// <summary>The ModRM reg field of the shift group, the op numbering <see cref="Shift"/> takes.</summary>
    private static byte ShiftGroupOp(Mnemonic m) => m switch
    {
        Mnemonic.Rol => 0,
        Mnemonic.Ror => 1,
        Mnemonic.Shl => 4,
        Mnemonic.Shr => 5,
        _ => 7,
    };
}
