using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// A device reached mid-slice reads the machine's time from <see cref="X86Cpu.InstructionCount"/>: it must count the
/// instructions the Run call in progress has already completed, or every port read inside a slice sees the slice's
/// start time (a guest polling the PIT would see time stand still).
/// </summary>
public sealed class InstructionCountTests
{
    [Theory]
    [InlineData(false)] // IF = 0: the uninterrupted fast loop
    [InlineData(true)]  // IF = 1: the loop that polls for interrupts between instructions
    public void CountsTheInstructionsOfTheRunInProgress(bool interruptsOn)
    {
        var m = new TestMachine();
        m.Load(16, 0x1000, a =>
        {
            if (interruptsOn) a.sti(); else a.cli();
            a.@out(0x80, al);
            for (int i = 0; i < 10; i++) a.nop();
            a.@out(0x80, al);
            a.hlt();
        });
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        var seen = new List<ulong>();
        m.Bus.OutObserver = () => seen.Add(m.Cpu.InstructionCount);

        int executed = m.Cpu.Run(1000);

        Assert.Equal(14, executed);
        Assert.Equal([1ul, 12ul], seen);   // STI/CLI done before the first OUT; it and ten NOPs before the second
        Assert.Equal(14ul, m.Cpu.InstructionCount);
    }
}
