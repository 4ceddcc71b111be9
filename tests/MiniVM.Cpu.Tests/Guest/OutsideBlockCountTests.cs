using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Support.EngineComparison;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The jit engine's account of the instructions it ran outside translated blocks (<c>info jit-stops</c>): every
/// executed instruction is either in a block or counted under exactly one reason.
/// </summary>
public sealed class OutsideBlockCountTests
{
    [Fact]
    public void EveryInstructionIsInABlockOrCountedOutsideUnderOneReason()
    {
        const int threshold = 40;
        var m = NewMachine(CpuEngine.Jit);
        m.Cpu.JitThreshold = threshold;
        m.LoadBootTo32(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 3000);
            a.xor(eax, eax);
            a.mov(ebx, 0x10000);
            a.Label(ref top);
            a.add(eax, __dword_ptr[ebx + ecx * 4]);
            a.mov(__dword_ptr[ebx + ecx * 4 + 4], eax);
            a.lea(edx, __dword_ptr[eax + ecx * 2 + 7]);
            a.xor(eax, edx);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        // Slices of 1..9 instructions: the 6-instruction loop block often does not fit what is left of one.
        var rng = new Random(5);
        for (int guard = 0; !m.Cpu.Halted && guard < 100_000; guard++) m.Cpu.Run(rng.Next(1, 10));
        Assert.True(m.Cpu.Halted);

        var cpu = m.Cpu;
        long outside = Enum.GetValues<OutsideBlockReason>().Sum(cpu.OutsideBlocks);
        Assert.Equal((long)cpu.InstructionCount, cpu.JitStatistics.InstructionsInBlocks + outside);
        // Before the loop's first instruction had been entered `threshold` times, it ran without a block.
        Assert.InRange(cpu.OutsideBlocks(OutsideBlockReason.NoBlock), (threshold - 1) * 6, (threshold + 2) * 6 + 100);
        Assert.True(cpu.OutsideBlocks(OutsideBlockReason.Budget) > 1000, cpu.JitStopsReport());
        Assert.True(cpu.JitStatistics.InstructionsInBlocks > 6000, cpu.JitStopsReport());
        Assert.Contains("outside blocks: noblock ", cpu.JitStopsReport());
    }

    [Fact]
    public void TheInterpreterCountsNothing()
    {
        var m = NewMachine(CpuEngine.Interpreter);
        m.LoadBootTo32(a => { a.mov(eax, 1); a.hlt(); });
        m.RunToHalt(1000);
        Assert.All(Enum.GetValues<OutsideBlockReason>(), r => Assert.Equal(0, m.Cpu.OutsideBlocks(r)));
    }
}
