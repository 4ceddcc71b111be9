using MiniVM.Cpu.Tests.Support;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Random instruction bytes must only ever produce guest-visible behaviour (faults, interrupts, halts),
/// never a host exception, hang or shutdown of the test process.
/// </summary>
public sealed class RandomCodeRobustnessTests
{
    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public void RandomBytesNeverEscapeAsHostExceptions(bool protectedMode, int seed)
    {
        var rng = new Random(seed);
        var m = new TestMachine();
        var code = new byte[64];
        int programs = 0, halted = 0;
        for (int p = 0; p < 3000; p++)
        {
            if (protectedMode)
            {
                // Flat ring 0; every IDT vector goes to a HLT at 0x2F00.
                m.LoadBootTo32(a => a.jmp(0x3000));
                m.Load(0x2F00, [0xF4]);
                for (int v = 0; v < 256; v++) m.SetIdt(v, TestMachine.Gate(TestMachine.Code32, 0x2F00, 0xE, 3));
                m.Cpu.Run(20); // reach 0x3000
            }
            else
            {
                for (int v = 0; v < 256; v++) m.WriteU32((uint)v * 4, 0x0000_2F00);
                m.Load(0x2F00, [0xF4]);
                m.Cpu.Reset();
                m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0x300);
                m.Cpu.SetSegmentReal(SegmentRegister.Ss, 0x800);
                m.Cpu.Esp = 0x1000;
                m.Cpu.Eip = 0;
            }
            rng.NextBytes(code);
            m.Load(0x3000, code);
            m.Cpu.Run(200);
            programs++;
            if (m.Cpu.Halted || m.Cpu.ShutdownPending) halted++;
        }
        Assert.Equal(3000, programs);
        Assert.True(halted > 0, "no random program ever reached a handler or HLT");
    }
}
