using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class TaskSwitchTests
{
    private static void WriteTask2(TestMachine m, uint eip)
    {
        uint t = TestMachine.Tss2;
        m.WriteU32(t + 0x20, eip);
        m.WriteU32(t + 0x24, 0x2);
        m.WriteU32(t + 0x38, 0xA0000); // ESP
        m.WriteU32(t + 0x48, TestMachine.Data32);
        m.WriteU32(t + 0x4C, TestMachine.Code32);
        m.WriteU32(t + 0x50, TestMachine.Data32);
        m.WriteU32(t + 0x54, TestMachine.Data32);
        m.WriteU32(t + 0x58, TestMachine.Data32);
        m.WriteU32(t + 0x5C, TestMachine.Data32);
    }

    [Fact]
    public void CallToTssNestsAndIretReturns()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            a.mov(ebx, 0x55);
            a.call(TestMachine.Tss2Sel, 0);
            a.mov(__[0x3004], ebx);     // EBX restored from task 1's TSS
            a.str(ax);
            a.mov(__[0x3008], eax);
            a.hlt();
        });
        WriteTask2(m, 0x2A00);
        m.Load(32, 0x2A00, a =>
        {
            a.mov(__dword_ptr[0x3000], 0x7A5C);
            a.mov(ebx, 0x99);
            a.pushfd();
            a.pop(eax);
            a.mov(__[0x300C], eax); // NT must be set in the nested task
            a.iretd();
        });
        m.RunToHalt();
        Assert.Equal(0x7A5Cu, m.ReadU32(0x3000));
        Assert.Equal(0x55u, m.ReadU32(0x3004));
        Assert.Equal(TestMachine.Tss1Sel, m.ReadU32(0x3008) & 0xFFFF);
        Assert.Equal(0x4000u, m.ReadU32(0x300C) & 0x4000);
        Assert.Equal(TestMachine.Tss1Sel, m.ReadU32(TestMachine.Tss2) & 0xFFFF); // back link
        Assert.Equal(0x89u, (m.ReadU32(TestMachine.GdtBase + 6 * 8 + 4) >> 8) & 0xFF); // task 2 no longer busy
        Assert.Equal(0x8u, m.Cpu.Cr0 & 0x8);                                     // CR0.TS set by the switch
    }

    /// <summary>
    /// SDM vol. 3 §7.3 step 13: a fault while loading the new task's LDT or segment descriptors comes after the
    /// commit point, so it is delivered in the new task's context: its TR, CR3, EIP and stack.
    /// </summary>
    [Theory]
    [InlineData(0x60u, (uint)TestMachine.Code32, 0x08)] // LDT selector names a code segment, not an LDT
    [InlineData(0x54u, 0x1230u, 0x1230)]          // DS beyond the GDT limit
    public void FaultAfterTheCommitPointIsDeliveredInTheNewTask(uint tssField, uint selector, int errorCode)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(eax, 0x10000);     // task 1's page directory
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, 0x80000000);
            a.mov(cr0, eax);
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            a.jmp(TestMachine.Tss2Sel, 0);
            a.mov(__dword_ptr[0x3020], 0xBAD); // must never run: the old task is not resumed
            a.hlt();
        });
        // Two page directories sharing one identity-mapped page table for the first 4 MiB.
        for (uint i = 0; i < 1024; i++) m.WriteU32(0x12000 + i * 4, (i << 12) | 3);
        m.WriteU32(0x10000, 0x12000 | 3);
        m.WriteU32(0x11000, 0x12000 | 3);
        WriteTask2(m, 0x2A00);
        m.WriteU32(TestMachine.Tss2 + 0x1C, 0x11000); // task 2's CR3
        m.WriteU32(TestMachine.Tss2 + tssField, selector);
        m.Load(32, 0x2A00, a =>
        {
            a.mov(__dword_ptr[0x3024], 0xBAD); // the handler halts before the new task's first instruction
            a.hlt();
        });
        m.SetIdt(10, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.pop(__dword_ptr[0x3000]);  // error code
            a.pop(__dword_ptr[0x3004]);  // EIP
            a.pop(__dword_ptr[0x3008]);  // CS
            a.pop(__dword_ptr[0x300C]);  // EFLAGS
            a.mov(__[0x3010], esp);
            a.str(ax);
            a.mov(__[0x3014], eax);
            a.mov(eax, cr3);
            a.mov(__[0x3018], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(10, m.Cpu.LastExceptionVector);
        Assert.Equal((uint)errorCode, m.ReadU32(0x3000));
        Assert.Equal(0x2A00u, m.ReadU32(0x3004));            // the new task's EIP, not the JMP's
        Assert.Equal(0xA0000u, m.ReadU32(0x3010));           // frame pushed on the new task's stack
        Assert.Equal(TestMachine.Tss2Sel, m.ReadU32(0x3014) & 0xFFFF);
        Assert.Equal(0x11000u, m.ReadU32(0x3018));
        Assert.Equal(0u, m.ReadU32(0x3020));
        Assert.Equal(0u, m.ReadU32(0x3024));
    }

    /// <summary>
    /// After the commit point the new task's selectors are already in the segment registers when a descriptor check
    /// fails (SDM vol. 3 §7.3 step 13): a data segment as CS is #TS(CS) with that CS in the frame; a code segment as
    /// SS is #TS(SS) with the new CS in the frame and the failing selector in SS.
    /// </summary>
    [Theory]
    [InlineData(0x4Cu, (uint)TestMachine.Data32, (uint)TestMachine.Data32, (uint)TestMachine.Data32)]
    [InlineData(0x50u, (uint)TestMachine.Code32, (uint)TestMachine.Code32, (uint)TestMachine.Code32)]
    public void FailingCsOrSsOfTheNewTaskIsInTheSegmentRegister(uint tssField, uint selector, uint expectedFrameCsOrSs, uint errorCode)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            a.jmp(TestMachine.Tss2Sel, 0);
            a.hlt();
        });
        WriteTask2(m, 0x2A00);
        m.WriteU32(TestMachine.Tss2 + tssField, selector);
        m.SetIdt(10, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.pop(__dword_ptr[0x3000]);  // error code
            a.pop(__dword_ptr[0x3004]);  // EIP
            a.pop(__dword_ptr[0x3008]);  // CS
            a.mov(eax, ss);
            a.mov(__[0x300C], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(10, m.Cpu.LastExceptionVector);
        Assert.Equal(errorCode, m.ReadU32(0x3000));
        Assert.Equal(0x2A00u, m.ReadU32(0x3004));
        if (tssField == 0x4C) Assert.Equal(expectedFrameCsOrSs, m.ReadU32(0x3008) & 0xFFFF);
        else
        {
            Assert.Equal(TestMachine.Code32, m.ReadU32(0x3008) & 0xFFFF);
            Assert.Equal(expectedFrameCsOrSs, m.ReadU32(0x300C) & 0xFFFF);
        }
    }

    [Fact]
    public void DoubleFaultThroughTaskGateRunsTheHandlerTask()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            a.mov(ax, 0x1234);
            a.mov(ds, ax);               // #GP ... whose IDT entry is not present -> #NP -> #DF
            a.hlt();
        });
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0) & ~(1UL << 47));
        m.SetIdt(8, TestMachine.Gate(TestMachine.Tss2Sel, 0, 0x5, 0));
        WriteTask2(m, 0x2A00);
        m.Load(32, 0x2A00, a =>
        {
            a.pop(eax);                  // #DF error code (0) on the new task's stack
            a.mov(__[0x3000], eax);
            a.mov(__dword_ptr[0x3004], 0xDF);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(0xDFu, m.ReadU32(0x3004));
        Assert.Equal(0u, m.ReadU32(0x3000));
        Assert.Equal(TestMachine.Tss2Sel, m.Cpu.TaskRegister.Selector);
        Assert.False(m.Cpu.ShutdownPending);
    }

    [Fact]
    public void TripleFaultRequestsShutdown()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.lidt(__[0x4E0]);   // IDT limit 0: every exception faults again
            a.int3();
            a.hlt();
        });
        m.WriteU32(0x4E0, 0);
        m.WriteU32(0x4E4, 0);
        bool raised = false;
        m.Cpu.ShutdownRequested += () => raised = true;
        m.Cpu.Run(1000);
        Assert.True(raised);
        Assert.True(m.Cpu.ShutdownPending);
        Assert.Equal(0, m.Cpu.Run(10));
    }
}
