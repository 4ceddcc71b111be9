using System.Reflection.Emit;

namespace MiniVM.Cpu;

// Flag liveness inside a block: an instruction whose flags the next instruction that sets all six (and reads none)
// overwrites, with only register moves between (no flag reader, no memory access, no branch, nothing that can fault
// or leave the block), need not produce them: nothing can observe those flags, not even a fault (none can happen
// before they are overwritten). Such a 32-bit ALU instruction stores no lazy-flag record (a dead CMP or TEST emits
// nothing at all); a shift, IMUL, MUL or ADC/SBB computes only its result (BlockTranslator.Arithmetic.cs). The
// instruction itself may read memory (a fault there comes before its flags are written); a memory destination may
// not (its write can fault after them).
internal sealed partial class BlockTranslator
{
    /// <summary>Per instruction: its flags are overwritten before anything can read them.</summary>
    private bool[] _flagsDead = [];

    private void FindDeadFlags(List<(DecodedOp Op, int Rel)> ops)
    {
        _flagsDead = new bool[ops.Count];
        for (int i = 0; i < ops.Count; i++)
        {
            if (!FlagsSkippable(ops[i].Op)) continue;
            for (int k = i + 1; k < ops.Count; k++)
            {
                if (OverwritesAllFlags(ops[k].Op)) { _flagsDead[i] = true; break; }
                if (!FlagFreeRegisterMove(ops[k].Op.Form)) break;
            }
        }
    }

    /// <summary>An instruction that can run without producing its flags when they are dead.</summary>
    private static bool FlagsSkippable(in DecodedOp d) => RegisterLazyWriter(d.Form)
        || d.Form is FastForm.ShiftRI or FastForm.ShiftRCl or FastForm.ImulRR or FastForm.ImulRM or FastForm.ImulRRI or FastForm.ImulRMI
        || (NativeGeneral(d) && (d.Ins.Code == Iced.Intel.Code.Mul_rm32 || d.Ins.Op0Kind != Iced.Intel.OpKind.Memory));

    /// <summary>
    /// Replaces all six arithmetic flags, whatever they were, from registers and immediates only, and cannot fault:
    /// the 32-bit ALU forms, CMP/TEST of byte registers, SHL/SHR/SAR by a non-zero immediate (AF cleared), IMUL and
    /// MUL of registers.
    /// </summary>
    private static bool OverwritesAllFlags(in DecodedOp d) => RegisterLazyWriter(d.Form)
        || d.Form is FastForm.Cmp8RR or FastForm.Cmp8RI or FastForm.Test8RR or FastForm.Test8RI
        || (d.Form == FastForm.ShiftRI && d.Aux is 4 or 5 or 6 or 7 && (d.Imm & 0x1F) != 0)
        || d.Form is FastForm.ImulRR or FastForm.ImulRRI
        || (NativeGeneral(d) && d.Ins.Code == Iced.Intel.Code.Mul_rm32 && d.Ins.Op0Kind == Iced.Intel.OpKind.Register);

    /// <summary>Sets all six arithmetic flags from registers and immediates only, reads none, cannot fault.</summary>
    private static bool RegisterLazyWriter(FastForm f) => f is FastForm.AddRR or FastForm.AddRI or FastForm.OrRR or FastForm.OrRI
        or FastForm.AndRR or FastForm.AndRI or FastForm.SubRR or FastForm.SubRI or FastForm.XorRR or FastForm.XorRI
        or FastForm.CmpRR or FastForm.CmpRI or FastForm.TestRR or FastForm.TestRI;

    /// <summary>Neither reads nor writes flags, touches no memory, cannot fault or branch.</summary>
    private static bool FlagFreeRegisterMove(FastForm f) => f is FastForm.MovRR or FastForm.MovRI or FastForm.MovR8R8 or FastForm.MovR8I
        or FastForm.MovzxR8 or FastForm.MovzxR16 or FastForm.MovsxR8 or FastForm.MovsxR16 or FastForm.Lea or FastForm.LeaR16
        or FastForm.MovR16R16 or FastForm.MovR16I or FastForm.Nop or FastForm.Xchg or FastForm.Cdq;

    /// <summary>Instruction <paramref name="d"/>, whose flags are dead, without its lazy record.</summary>
    private void EmitWithoutFlags(in DecodedOp d)
    {
        OpCode op;
        switch (d.Form)
        {
            case FastForm.CmpRR: case FastForm.CmpRI: case FastForm.TestRR: case FastForm.TestRI: return;
            case FastForm.AddRR: case FastForm.AddRI: op = OpCodes.Add; break;
            case FastForm.OrRR: case FastForm.OrRI: op = OpCodes.Or; break;
            case FastForm.AndRR: case FastForm.AndRI: op = OpCodes.And; break;
            case FastForm.SubRR: case FastForm.SubRI: op = OpCodes.Sub; break;
            default: op = OpCodes.Xor; break;
        }
        Ld(d.Reg0);
        if (d.Form is FastForm.AddRR or FastForm.OrRR or FastForm.AndRR or FastForm.SubRR or FastForm.XorRR) Ld(d.Reg1);
        else Const(d.Imm);
        _il.Emit(op);
        St(d.Reg0);
    }
}
