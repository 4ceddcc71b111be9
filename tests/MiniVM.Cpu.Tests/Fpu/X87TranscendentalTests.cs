using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87TranscendentalTests
{
    private static void AssertClose(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 2 * (Math.BitIncrement(Math.Abs(expected)) - Math.Abs(expected)),
            $"expected {expected:R}, got {actual:R}");

    [Fact]
    public void FptanPushesOneAboveTheTangent()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 0.5);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fptan();
            a.fstp(__qword_ptr[0x108]);
            a.fstp(__qword_ptr[0x110]);
        });
        Assert.Equal(1.0, m.GetDouble(0x108));
        AssertClose(Math.Tan(0.5), m.GetDouble(0x110));
        Assert.False(m.Flag(C2));
    }

    [Fact]
    public void FsincosLeavesCosineOnTop()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 1.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fsincos();
            a.fstp(__qword_ptr[0x108]);
            a.fstp(__qword_ptr[0x110]);
        });
        AssertClose(Math.Cos(1.0), m.GetDouble(0x108));
        AssertClose(Math.Sin(1.0), m.GetDouble(0x110));
    }

    [Fact]
    public void SineOfOutOfRangeArgumentSetsC2AndLeavesIt()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 9223372036854775808.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fsin();
        });
        Assert.True(m.Flag(C2));
        Assert.Equal(new Float80(0x8000_0000_0000_0000, 0x403E), m.Fpu.GetStack(0));
    }

    [Fact]
    public void Fyl2xOfPowerOfTwoIsExact()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 3.0);
        m.PutDouble(0x108, 8.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fld(__qword_ptr[0x108]);
            a.fyl2x();
            a.fstp(__qword_ptr[0x110]);
        });
        Assert.Equal(9.0, m.GetDouble(0x110));
        Assert.Equal(0, m.Status & PE);
        Assert.Equal(0, m.Fpu.Top);
    }

    [Fact]
    public void Fyl2xOfTenIsLog2Ten()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 10.0);
        m.Run(a =>
        {
            a.fld1();
            a.fld(__qword_ptr[0x100]);
            a.fyl2x();
            a.fstp(__qword_ptr[0x110]);
        });
        AssertClose(Math.Log2(10.0), m.GetDouble(0x110));
        Assert.True(m.Flag(PE));
    }

    [Fact]
    public void Fyl2xOfZeroDividesByZeroAndOfNegativeIsInvalid()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, -1.0);
        m.Run(a =>
        {
            a.fld1();
            a.fldz();
            a.fyl2x();
        });
        Assert.Equal(Float80.NegativeInfinity, m.Fpu.GetStack(0));
        Assert.True(m.Flag(ZE));
        m.Run(a =>
        {
            a.fld1();
            a.fld(__qword_ptr[0x100]);
            a.fyl2x();
        });
        Assert.Equal(Float80.Indefinite, m.Fpu.GetStack(0));
        Assert.True(m.Flag(IE));
    }

    [Fact]
    public void Fyl2xp1KeepsPrecisionForSmallArguments()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 1e-10);
        m.Run(a =>
        {
            a.fld1();
            a.fld(__qword_ptr[0x100]);
            a.fyl2xp1();
            a.fstp(__qword_ptr[0x110]);
        });
        AssertClose(1e-10 / Math.Log(2.0) * (1 - 0.5e-10), m.GetDouble(0x110));
    }

    [Fact]
    public void F2xm1AndFpatan()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 0.5);
        m.PutDouble(0x108, -1.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.f2xm1();
            a.fstp(__qword_ptr[0x110]);
            a.fld1();                   // y = 1
            a.fld(__qword_ptr[0x108]);  // x = -1
            a.fpatan();                 // atan2(1, -1) = 3π/4
            a.fstp(__qword_ptr[0x118]);
        });
        AssertClose(Math.Sqrt(2.0) - 1.0, m.GetDouble(0x110));
        AssertClose(3 * Math.PI / 4, m.GetDouble(0x118));
    }
}
