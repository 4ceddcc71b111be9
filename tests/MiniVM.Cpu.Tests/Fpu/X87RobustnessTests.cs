using Iced.Intel;
using MiniVM.Cpu.Fpu;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87RobustnessTests
{
    /// <summary>Every x87 opcode byte with every ModR/M, random memory and random control words: the FPU must
    /// execute each one without throwing, and keep its words self-consistent.</summary>
    [Fact]
    public void RandomInstructionsOnRandomDataNeverThrow()
    {
        var random = new Random(2024);
        var m = new X87TestMachine();
        random.NextBytes(m.Memory.Bytes);
        int executed = 0;
        for (int round = 0; round < 6; round++)
        {
            for (int opcode = 0xD8; opcode <= 0xDF; opcode++)
            {
                for (int modRm = 0; modRm < 256; modRm++)
                {
                    // [disp32] for memory forms keeps the operand inside the fake memory.
                    int mod = modRm >> 6;
                    byte rm = (byte)(mod == 3 ? modRm : (modRm & 0x38) | 0x05);
                    uint displacement = (uint)random.Next(0x100, 0xE00);
                    byte[] code = [(byte)opcode, rm, (byte)displacement, (byte)(displacement >> 8), 0, 0];
                    Instruction instruction = Decoder.Create(32, new ByteArrayCodeReader(code)).Decode();
                    if (instruction.Code == Code.INVALID)
                    {
                        continue;
                    }
                    if (random.Next(50) == 0)
                    {
                        m.Memory.Bytes[0xF00] = (byte)random.Next(256);
                        m.Memory.Bytes[0xF01] = (byte)random.Next(16);
                        m.Run(a => a.fldcw(Iced.Intel.AssemblerRegisters.__word_ptr[0xF00]));
                    }
                    if (random.Next(200) == 0)
                    {
                        random.NextBytes(m.Memory.Bytes.AsSpan(0x100, 0xD00));
                    }
                    m.Memory.EffectiveAddress = instruction.Op0Kind == OpKind.Memory ? instruction.MemoryDisplacement32 : 0;
                    m.Fpu.Execute(instruction, m.Memory);
                    executed++;
                    Assert.Equal((ushort)0x0040, (ushort)(m.Fpu.ControlWord & 0xE0C0));
                    Assert.Equal(m.Fpu.ErrorPending, (m.Fpu.StatusWord & ~m.Fpu.ControlWord & 0x3F) != 0);
                    Assert.Equal(m.Fpu.Top, (m.Fpu.StatusWord >> 11) & 7);
                }
            }
        }
        Assert.True(executed > 10_000);
    }
}
