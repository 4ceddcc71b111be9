using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class ProtectedModeTests
{
    [Fact]
    public void RealModeBootStubEntersFlat32BitProtectedMode()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(__dword_ptr[0x3000], 0xCAFEBABE);
            a.mov(eax, cr0);
            a.mov(__[0x3004], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(0xCAFEBABEu, m.ReadU32(0x3000));
        Assert.Equal(1u, m.ReadU32(0x3004) & 1);
        Assert.True(m.Cpu.ProtectedMode);
        var cs = m.Cpu.GetSegment(SegmentRegister.Cs);
        Assert.Equal(TestMachine.Code32, cs.Selector);
        Assert.True(cs.Big);
        Assert.Equal(0xFFFFFFFFu, m.Cpu.GetSegment(SegmentRegister.Ds).Limit);
    }

    [Fact]
    public void ProtectedModeReturnsToRealModeThrough16BitSegment()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a => a.jmp(TestMachine.Code16, 0x2800));
        m.Load(16, 0x2800, a =>
        {
            a.mov(ax, TestMachine.Data16);
            a.mov(ds, ax);
            a.mov(eax, cr0);
            a.and(eax, ~1);
            a.mov(cr0, eax);
            a.jmp(0x0280, 0x0040); // real-mode CS:IP = 0x2840
        });
        m.Load(16, 0x2840, a =>
        {
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.mov(__word_ptr[0x3000], 0x1234);
            a.hlt();
        });
        m.RunToHalt();
        Assert.False(m.Cpu.ProtectedMode);
        Assert.Equal(0x0280, m.Cpu.GetSegment(SegmentRegister.Cs).Selector);
        Assert.Equal(0x1234u, m.ReadU32(0x3000) & 0xFFFF);
    }

    [Fact]
    public void LoadingSegmentBeyondGdtLimitRaisesGpWithSelectorErrorCode()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, 0x78); // index 15 is beyond the 10-entry GDT
            a.mov(ds, ax);
            a.hlt();
        });
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.pop(eax);
            a.mov(__[0x3000], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(13, m.Cpu.LastExceptionVector);
        Assert.Equal(0x78u, m.ReadU32(0x3000));
    }
}
