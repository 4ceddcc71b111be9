using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.LinuxBringUp;

/// <summary>
/// Linux 6.1's __ffs emits "rep; bsf" (F3 0F BC), which Iced decodes as TZCNT. Our P6 advertises no BMI1/ABM, so
/// like a real Pentium Pro (and QEMU's qemu32) it must run F3 0F BC/BD as BSF/BSR. Before the fix it raised #UD
/// in start_kernel and the kernel died with "Attempted to kill the idle task!".
/// </summary>
public sealed class RepBsfTests
{
    private static TestMachine Run(Action<Iced.Intel.Assembler> code)
    {
        var m = new TestMachine();
        m.Load(16, 0x1000, code);
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.SetSegmentReal(SegmentRegister.Ss, 0);
        m.Cpu.Esp = 0x8000;
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        return m;
    }

    [Fact]
    public void RepBsfFindsTheLowestSetBitLikeBsf()
    {
        var m = Run(a => { a.mov(ecx, 0x50); a.tzcnt(ecx, ecx); a.hlt(); });
        Assert.Equal(-1, m.Cpu.LastExceptionVector);
        Assert.Equal(4u, m.Cpu.Ecx);
        Assert.Equal(0u, m.Cpu.Eflags & 0x40); // ZF clear: source was not zero
    }

    [Fact]
    public void RepBsrGivesTheHighestSetBitIndexNotALeadingZeroCount()
    {
        // LZCNT would give 25 here; BSR gives 6.
        var m = Run(a => { a.mov(edx, 0x50); a.lzcnt(eax, edx); a.hlt(); });
        Assert.Equal(-1, m.Cpu.LastExceptionVector);
        Assert.Equal(6u, m.Cpu.Eax);
    }

    [Fact]
    public void RepBsfOfZeroLeavesTheDestinationAndSetsZf()
    {
        // TZCNT would write 32 and set CF; BSF leaves the destination alone and sets ZF.
        var m = Run(a => { a.mov(eax, 0x1234); a.xor(ebx, ebx); a.tzcnt(eax, ebx); a.hlt(); });
        Assert.Equal(0x1234u, m.Cpu.Eax);
        Assert.Equal(0x40u, m.Cpu.Eflags & 0x40);
    }
}
