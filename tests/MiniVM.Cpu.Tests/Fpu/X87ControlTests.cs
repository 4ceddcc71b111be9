using Iced.Intel;
using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87ControlTests
{
    [Fact]
    public void PowerOnStateDiffersFromFninit()
    {
        var fpu = new X87();
        Assert.Equal(0x0040, fpu.ControlWord);
        Assert.Equal(0x5555, fpu.TagWord);
        Assert.Equal(0, fpu.StatusWord);

        var m = new X87TestMachine();
        Assert.Equal(0x037F, m.Fpu.ControlWord);
        Assert.Equal(0xFFFF, m.Fpu.TagWord);
        Assert.Equal(0, m.Fpu.StatusWord);
    }

    [Fact]
    public void StoresControlAndStatusWords()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fld1();
            a.fld1();
            a.fnstcw(__word_ptr[0x100]);
            a.fnstsw(__word_ptr[0x102]);
        });
        Assert.Equal(0x037F, m.GetUInt16(0x100));
        Assert.Equal(0x3000, m.GetUInt16(0x102));
    }

    [Fact]
    public void FldcwKeepsOnlyDefinedBits()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0xFFFF);
        Assert.Equal(0x1F7F, m.Fpu.ControlWord);
        m.LoadControlWord(0x0000);
        Assert.Equal(0x0040, m.Fpu.ControlWord);
    }

    [Fact]
    public void DecodedWaitPrefixedFormsAndNoOpsExecute()
    {
        var m = new X87TestMachine();
        // fld1; wait; fstsw ax (9B DF E0); fnop; fneni; fsetpm; finit (9B DB E3)
        m.RunBytes(32, 0xD9, 0xE8, 0x9B, 0xDF, 0xE0, 0xD9, 0xD0, 0xDB, 0xE0, 0x9B, 0xDB, 0xE4, 0x9B, 0xDB, 0xE3);
        Assert.Equal(0xFFFF, m.Fpu.TagWord);
        Assert.Equal(0, m.Fpu.Top);
    }

    [Fact]
    public void NonX87InstructionIsRejected()
    {
        var m = new X87TestMachine();
        var assembler = new Assembler(32);
        assembler.nop();
        Assert.Throws<ArgumentException>(() => m.Fpu.Execute(assembler.Instructions[0], m.Memory));
    }

    [Fact]
    public void FnclexClearsExceptionsButKeepsConditionCodes()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fldz();
            a.fchs();
            a.fsqrt();   // sqrt(-0) = -0, no exception
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.fxam();    // +inf: C2|C0
            a.fnclex();
        });
        Assert.Equal(C2 | C0, m.Status & (C0 | C1 | C2 | C3 | 0xFF));
    }

    [Fact]
    public void InstructionPointerIsRecordedForNonControlInstructionsOnly()
    {
        var m = new X87TestMachine();
        m.Memory.InstructionEip = 0x4444;
        m.PutDouble(0x180, 1.0);
        m.Run(a => a.fld(__qword_ptr[0x180]));
        m.Memory.InstructionEip = 0x5555;
        m.Run(a => a.fnstcw(__word_ptr[0x100]));
        Assert.Equal(0x4444u, m.Fpu.InstructionPointer);
        Assert.Equal(0x180u, m.Fpu.DataPointer);
        Assert.Equal(0x0505, m.Fpu.LastOpcode); // DD /0 with ModR/M 05h ([disp32])
    }

    [Fact]
    public void OpcodeOfRegisterFormIncludesTheRegister()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fld1();
            a.fld1();
            a.faddp(st1, st0); // DE C1
        });
        Assert.Equal(0x06C1, m.Fpu.LastOpcode);
    }
}
