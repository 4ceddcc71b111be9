using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class FpuIntegrationTests
{
    [Fact]
    public void ArithmeticThroughMemoryOperandsInProtectedMode()
    {
        var m = new TestMachine();
        m.WriteU32(0x3100, BitConverter.SingleToUInt32Bits(1.5f));
        m.WriteU32(0x3104, BitConverter.SingleToUInt32Bits(2.25f));
        m.LoadBootTo32(a =>
        {
            a.fninit();
            a.fld(__dword_ptr[0x3100]);
            a.fadd(__dword_ptr[0x3104]);
            a.fist(__dword_ptr[0x3108]);     // 3.75 rounds to 4
            a.fmul(__dword_ptr[0x3100]);     // 5.625
            a.fstp(__dword_ptr[0x310C]);
            a.fnstsw(ax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(4u, m.ReadU32(0x3108));
        Assert.Equal(5.625f, BitConverter.UInt32BitsToSingle(m.ReadU32(0x310C)));
        Assert.Equal(0u, m.Cpu.Eax & 0x3800); // TOP back to 0 after FSTP
    }

    [Fact]
    public void TaskSwitchedFlagMakesEscapeInstructionsRaiseNm()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(eax, cr0);
            a.or(eax, 0x8); // TS, as after a task switch (Linux lazy FPU)
            a.mov(cr0, eax);
            a.fninit();
            a.hlt();
        });
        m.SetIdt(7, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.clts();
            a.mov(__dword_ptr[0x3000], 7);
            a.iretd();   // restart FNINIT, which now runs
        });
        m.RunToHalt();
        Assert.Equal(7u, m.ReadU32(0x3000));
        Assert.Equal(0u, m.Cpu.Cr0 & 0x8);
        Assert.Equal(0x037F, m.Cpu.Fpu.ControlWord);
    }

    [Fact]
    public void UnmaskedExceptionRaisesMfAtNextWaitingInstructionWhenNeIsSet()
    {
        var m = new TestMachine();
        m.WriteU16(0x3100, 0x037B); // unmask ZE
        m.LoadBootTo32(a =>
        {
            a.mov(eax, cr0);
            a.or(eax, 0x20); // NE
            a.mov(cr0, eax);
            a.fninit();
            a.fldcw(__word_ptr[0x3100]);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);   // 1/0: ZE pending, unmasked
            a.db(0x9B);          // FWAIT: #MF here
            a.hlt();
        });
        m.SetIdt(16, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.fnstsw(ax);
            a.mov(__[0x3000], eax);
            a.fnclex();
            a.mov(__dword_ptr[0x3004], 16);
            a.iretd();
        });
        m.RunToHalt();
        Assert.Equal(16, m.Cpu.LastExceptionVector);
        Assert.Equal(16u, m.ReadU32(0x3004));
        Assert.Equal(0x4u, m.ReadU32(0x3000) & 0x4);   // ZE
        Assert.Equal(0x80u, m.ReadU32(0x3000) & 0x80); // ES
    }
}
