using System.Reflection.Emit;

namespace MiniVM.Cpu;

// Flag liveness inside a block: a register-only 32-bit ALU instruction whose flags the next flag-setting instruction
// overwrites, with only register moves between (no flag reader, no memory access, no branch, nothing that can fault
// or leave the block), stores no lazy-flag record: nothing can observe those flags, not even a fault (none can happen
// before they are overwritten). Its result is computed in plain IL; a dead CMP or TEST emits nothing at all.
internal sealed partial class BlockTranslator
{
    /// <summary>Per instruction: its flags are overwritten before anything can read them.</summary>
    private bool[] _flagsDead = [];

    private void FindDeadFlags(List<(DecodedOp Op, int Rel)> ops)
    {
        _flagsDead = new bool[ops.Count];
        for (int i = 0; i < ops.Count; i++)
        {
            if (!RegisterLazyWriter(ops[i].Op.Form)) continue;
            for (int k = i + 1; k < ops.Count; k++)
            {
                var f = ops[k].Op.Form;
                if (RegisterLazyWriter(f)) { _flagsDead[i] = true; break; }
                if (!FlagFreeRegisterMove(f)) break;
            }
        }
    }

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
