using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class Virtual8086Tests
{
    private const uint Ring0Stack = 0x90000;

    /// <summary>IRETD into V86 at 0400:0000 (linear 0x4000) with DS=0x300, SS:SP=0700:0FF0 and the given IOPL.</summary>
    private static TestMachine WithV86(int iopl, Action<Iced.Intel.Assembler> v86Code)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            a.push(0);            // GS
            a.push(0);            // FS
            a.push(0x0300);       // DS
            a.push(0);            // ES
            a.push(0x0700);       // SS
            a.push(0x0FF0);       // SP
            a.push(0x20002 | (iopl << 12)); // EFLAGS with VM
            a.push(0x0400);       // CS
            a.push(0x0000);       // IP
            a.iretd();
        });
        m.WriteU32(TestMachine.Tss1 + 4, Ring0Stack);
        m.WriteU32(TestMachine.Tss1 + 8, TestMachine.Data32);
        m.Load(16, 0x4000, v86Code);
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2B00, 0xE, 0));
        m.Load(32, 0x2B00, a =>
        {
            a.mov(ecx, ds);           // null: the CPU cleared the data segments on leaving V86
            a.mov(dx, TestMachine.Data32);
            a.mov(ds, dx);
            a.mov(__[0x3018], ecx);
            a.pop(eax);
            a.mov(__[0x3000], eax);   // error code
            a.mov(eax, __[esp]);
            a.mov(__[0x3004], eax);   // IP
            a.mov(eax, __[esp + 4]);
            a.mov(__[0x3008], eax);   // CS
            a.mov(eax, __[esp + 8]);
            a.mov(__[0x300C], eax);   // EFLAGS
            a.mov(eax, __[esp + 20]);
            a.mov(__[0x3010], eax);   // ES pushed for V86
            a.mov(eax, __[esp + 24]);
            a.mov(__[0x3014], eax);   // DS pushed for V86
            a.hlt();
        });
        return m;
    }

    [Fact]
    public void V86CodeUsesRealModeSegmentsAndTrapsCliWhenIoplIsBelow3()
    {
        var m = WithV86(0, a =>
        {
            a.mov(ax, 0x1234);
            a.mov(__word_ptr[0x0020], ax);
            a.cli();
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(13, m.Cpu.LastExceptionVector);
        Assert.Equal(0x1234u, m.ReadU32(0x3020) & 0xFFFF);          // 0x300:0x20
        Assert.Equal(0u, m.ReadU32(0x3000));
        Assert.Equal(0x0400u, m.ReadU32(0x3008));
        Assert.Equal(0x20000u, m.ReadU32(0x300C) & 0x20000);        // VM in the saved EFLAGS
        Assert.Equal(0x0300u, m.ReadU32(0x3014));
        Assert.Equal(0u, m.ReadU32(0x3018));
        Assert.Equal(0x06u, m.ReadU32(0x3004));                      // IP of CLI, after MOV AX,imm (3) and MOV [0x20],AX (3)
    }

    [Fact]
    public void V86WithIopl3ExecutesCliAndIntThroughTheIdt()
    {
        var m = WithV86(3, a =>
        {
            a.cli();
            a.pushf();
            a.pop(ax);
            a.mov(__word_ptr[0x0040], ax);
            a.@int(0x21);
        });
        // INT n from V86 goes through the IDT to ring 0 (no VME): the gate must be DPL 3.
        m.SetIdt(0x21, TestMachine.Gate(TestMachine.Code32, 0x2C00, 0xE, 3));
        m.Load(32, 0x2C00, a =>
        {
            a.mov(dx, TestMachine.Data32);
            a.mov(ds, dx);
            a.mov(eax, __[esp + 8]);
            a.mov(__[0x3050], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(0u, m.ReadU32(0x3040) & 0x200);                   // IF cleared by CLI
        Assert.Equal(0x3000u, m.ReadU32(0x3040) & 0x3000);             // IOPL 3 visible to PUSHF
        Assert.Equal(0x20000u, m.ReadU32(0x3050) & 0x20000);           // interrupted EFLAGS has VM
    }
}
