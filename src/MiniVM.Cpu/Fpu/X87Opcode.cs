using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// The 11-bit FPU opcode (FOP) recorded for FNSTENV/FNSAVE: the low three bits of the first opcode byte and
/// the ModR/M byte (SDM vol. 1 §8.1.9). Iced gives the decoded form, so the ModR/M byte is rebuilt from the
/// opcode table (register forms) or from the addressing form (memory operands).
/// </summary>
internal static class X87Opcode
{
    public static ushort Of(in Instruction instruction)
    {
        OpCodeInfo info = instruction.Code.ToOpCode();
        uint opcode = info.OpCode;
        if (info.OpCodeLength == 2)
        {
            int modRm = (int)(opcode & 0xFF);
            if (modRm >= 0xC0 && (modRm & 7) == 0)
            {
                // "D8 C0+i" style forms: the register number is the ST(i) operand that is not ST(0).
                for (int operand = 0; operand < instruction.OpCount; operand++)
                {
                    if (instruction.GetOpKind(operand) == OpKind.Register)
                    {
                        int st = instruction.GetOpRegister(operand) - Register.ST0;
                        if (st is > 0 and < 8)
                        {
                            modRm += st;
                            break;
                        }
                    }
                }
            }
            return (ushort)((((opcode >> 8) & 7) << 8) | (uint)modRm);
        }
        int reg = info.GroupIndex < 0 ? 0 : info.GroupIndex;
        return (ushort)(((opcode & 7) << 8) | (uint)MemoryModRm(instruction, reg));
    }

    private static int MemoryModRm(in Instruction instruction, int reg)
    {
        Register baseRegister = instruction.MemoryBase;
        Register index = instruction.MemoryIndex;
        int displacementSize = instruction.MemoryDisplSize;
        int mod, rm;
        bool sixteenBit = baseRegister is Register.BX or Register.BP or Register.SI or Register.DI
            || (baseRegister == Register.None && index == Register.None && displacementSize == 2);
        if (sixteenBit)
        {
            (rm, bool hasBase) = (baseRegister, index) switch
            {
                (Register.BX, Register.SI) => (0, true),
                (Register.BX, Register.DI) => (1, true),
                (Register.BP, Register.SI) => (2, true),
                (Register.BP, Register.DI) => (3, true),
                (Register.SI, _) => (4, true),
                (Register.DI, _) => (5, true),
                (Register.BP, _) => (6, true),
                (Register.BX, _) => (7, true),
                _ => (6, false),
            };
            mod = !hasBase ? 0 : displacementSize switch { 0 => 0, 1 => 1, _ => 2 };
        }
        else if (baseRegister == Register.None && index == Register.None)
        {
            (mod, rm) = (0, 5);
        }
        else
        {
            bool needsSib = index != Register.None || baseRegister == Register.ESP;
            rm = needsSib ? 4 : baseRegister - Register.EAX;
            mod = baseRegister == Register.None ? 0 : displacementSize switch { 0 => 0, 1 => 1, _ => 2 };
        }
        return (mod << 6) | (reg << 3) | (rm & 7);
    }
}
