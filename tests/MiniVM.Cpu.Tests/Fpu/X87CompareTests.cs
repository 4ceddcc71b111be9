using Iced.Intel;
using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87CompareTests
{
    private const ushort Codes = C0 | C2 | C3;

    [Theory]
    [InlineData(1.0, 2.0, C0)]
    [InlineData(2.0, 2.0, C3)]
    [InlineData(3.0, 2.0, 0)]
    [InlineData(-0.0, 0.0, C3)]
    [InlineData(double.NegativeInfinity, -1e308, C0)]
    [InlineData(double.NaN, 1.0, C0 | C2 | C3)]
    public void FcomSetsConditionCodes(double st0, double source, int expected)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, st0);
        m.PutDouble(0x108, source);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fcomp(__qword_ptr[0x108]);
        });
        Assert.Equal(expected, m.Status & Codes);
        Assert.Equal(double.IsNaN(st0), m.Flag(IE));
        Assert.Equal(0, m.Fpu.Top);
    }

    [Fact]
    public void FucomAcceptsQuietNaNWithoutInvalid()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, double.NaN);
        m.Run(a =>
        {
            a.fld1();
            a.fld(__qword_ptr[0x100]);
            a.fucompp();
        });
        Assert.Equal(Codes, m.Status & Codes);
        Assert.False(m.Flag(IE));
        Assert.Equal(0, m.Fpu.Top);
        Assert.True(m.Fpu.IsStackEmpty(0));
    }

    [Fact]
    public void FicomComparesWithAnInteger()
    {
        var m = new X87TestMachine();
        m.PutUInt16(0x100, unchecked((ushort)-5));
        m.PutDouble(0x108, -5.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x108]);
            a.ficom(__word_ptr[0x100]);
        });
        Assert.Equal(C3, m.Status & Codes);
    }

    [Theory]
    [InlineData(1.0, 2.0, X87.CarryFlag)]
    [InlineData(2.0, 2.0, X87.ZeroFlag)]
    [InlineData(3.0, 2.0, 0u)]
    [InlineData(double.NaN, 2.0, X87.ZeroFlag | X87.ParityFlag | X87.CarryFlag)]
    public void FcomiWritesEflags(double top, double second, uint expected)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, second);
        m.PutDouble(0x108, top);
        m.Fpu.Eflags = 0x0002 | X87.OverflowFlag | X87.SignFlag | X87.AuxiliaryFlag | X87.ZeroFlag | X87.CarryFlag;
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fld(__qword_ptr[0x108]);
            a.fucomip(st0, st1);
        });
        Assert.Equal(0x0002 | expected, m.Fpu.Eflags);
        Assert.Equal(7, m.Fpu.Top);
        Assert.False(m.Flag(IE));
    }

    [Fact]
    public void FcomiSignalsInvalidOnQuietNaNButFucomiDoesNot()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, double.NaN);
        m.Run(a =>
        {
            a.fld1();
            a.fld(__qword_ptr[0x100]);
            a.fucomi(st0, st1);
        });
        Assert.False(m.Flag(IE));
        m.Run(a => a.fcomi(st0, st1));
        Assert.True(m.Flag(IE));
    }

    [Fact]
    public void UsesEflagsNamesTheInstructionsThatNeedIt()
    {
        var assembler = new Assembler(32);
        assembler.fcomi(st0, st1);
        assembler.fcmovnbe(st0, st2);
        assembler.fcom(st0, st1);
        Assert.True(X87.UsesEflags(assembler.Instructions[0]));
        Assert.True(X87.UsesEflags(assembler.Instructions[1]));
        Assert.False(X87.UsesEflags(assembler.Instructions[2]));
    }

    [Theory]
    [InlineData(0u, false, true)]                 // above: FCMOVB not taken, FCMOVNBE taken
    [InlineData(X87.CarryFlag, true, false)]
    [InlineData(X87.ZeroFlag, false, false)]
    public void FcmovFollowsEflags(uint eflags, bool below, bool notBelowOrEqual)
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fldz();
            a.fld1();
            a.fldz();
        });
        m.Fpu.Eflags = eflags;
        m.Run(a => a.fcmovb(st0, st1));
        Assert.Equal(below ? Float80.One : Float80.PositiveZero, m.Fpu.GetStack(0));
        m.Run(a => a.fcmovnbe(st0, st1));
        Assert.Equal(below || notBelowOrEqual ? Float80.One : Float80.PositiveZero, m.Fpu.GetStack(0));
    }

    [Theory]
    [InlineData(1.0, C2)]
    [InlineData(-0.0, C3 | C1)]
    [InlineData(double.NegativeInfinity, C2 | C0 | C1)]
    [InlineData(double.NaN, C0 | C1)] // .NET's double.NaN has the sign bit set
    [InlineData(1e-310, C2)] // a double denormal is a normal number once widened to extended
    public void FxamClassifies(double value, int expected)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, value);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fxam();
        });
        Assert.Equal(expected, m.Status & (Codes | C1));
    }

    [Fact]
    public void FxamOfAnEmptyRegisterAndOfAnExtendedDenormal()
    {
        var m = new X87TestMachine();
        m.Run(a => a.fxam());
        Assert.Equal(C3 | C0, m.Status & (Codes));
        m.PutBytes(0x100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        m.Run(a =>
        {
            a.fld(__tword_ptr[0x100]);
            a.fxam();
        });
        Assert.Equal(C3 | C2, m.Status & Codes);
    }

    [Theory]
    [InlineData(-2.0, C0)]
    [InlineData(0.0, C3)]
    [InlineData(5.0, 0)]
    public void FtstComparesWithZero(double value, int expected)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, value);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.ftst();
        });
        Assert.Equal(expected, m.Status & Codes);
    }
}
