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

    [Fact]
    public void SineOfExtendedPiMatchesTheHardwareSixtySixBitPi()
    {
        // Real x87s reduce with a 66-bit π: sin(RN64(π)) comes out as −2^−64 (checked on a host x87),
        // not as −(RN64(π) − π) ≈ −0xECE675D1FC8F8CBB × 2^−128.
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fldpi();
            a.fsin();
        });
        Assert.Equal(new Float80(0x8000_0000_0000_0000, 0xBFBF), m.Fpu.GetStack(0));
    }

    [Fact]
    public void TranscendentalResultsCarryTheFullExtendedSignificand()
    {
        // Expected values: exact rationals (Taylor series to 400 bits) rounded to nearest 64-bit significand.
        var m = new X87TestMachine();
        m.PutDouble(0x100, 0.5);
        m.Run(a =>
        {
            a.fld1();
            a.fsincos();                // ST0 = cos 1, ST1 = sin 1
            a.fld(__qword_ptr[0x100]);
            a.fptan();                  // ST0 = 1, ST1 = tan 0.5
            a.fstp(st0);
            a.fld(__qword_ptr[0x100]);
            a.f2xm1();                  // √2 − 1
        });
        Assert.Equal(new Float80(0xD413_CCCF_E779_9211, 0x3FFD), m.Fpu.GetStack(0));
        Assert.Equal(new Float80(0x8BDA_7ADF_9A3A_5219, 0x3FFE), m.Fpu.GetStack(1));
        Assert.Equal(new Float80(0x8A51_407D_A834_5C92, 0x3FFE), m.Fpu.GetStack(2));
        Assert.Equal(new Float80(0xD76A_A478_4867_7021, 0x3FFE), m.Fpu.GetStack(3));
    }

    [Fact]
    public void LogarithmAndArctangentMatchTheConstants()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 10.0);
        m.Run(a =>
        {
            a.fld1();
            a.fld(__qword_ptr[0x100]);
            a.fyl2x();      // log2 10 = FLDL2T
            a.fld1();
            a.fld1();
            a.fpatan();     // atan2(1, 1) = π/4
            a.fld1();
            a.fchs();
            a.fldz();
            a.fpatan();     // atan2(−1, +0) = −π/2
        });
        Assert.Equal(new Float80(0xC90F_DAA2_2168_C235, 0xBFFF), m.Fpu.GetStack(0));
        Assert.Equal(new Float80(0xC90F_DAA2_2168_C235, 0x3FFE), m.Fpu.GetStack(1));
        Assert.Equal(new Float80(0xD49A_784B_CD1B_8AFE, 0x4000), m.Fpu.GetStack(2));
    }

    [Theory]
    [InlineData(0x077F)]
    [InlineData(0x0B7F)]
    public void CosineOfTinyArgumentRoundsPerRoundingControl(int controlWord)
    {
        var m = new X87TestMachine();
        m.LoadControlWord((ushort)controlWord);
        m.PutDouble(0x100, 1e-12);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fcos();
        });
        // cos x = 1 − 5e−25: rounding down gives the largest value below 1, rounding up gives 1.
        Float80 expected = controlWord == 0x077F ? new Float80(0xFFFF_FFFF_FFFF_FFFF, 0x3FFE) : Float80.One;
        Assert.Equal(expected, m.Fpu.GetStack(0));
        Assert.True(m.Flag(PE));
    }

    [Theory]
    [InlineData(1_000_000_000_000_000_000UL, 0xFE29_3239_D98B_5DC4UL, 0xBFFE)]
    [InlineData(0x7FFF_FFFF_FFFF_FC00UL, 0xFCC2_702D_2A7A_1F45UL, 0x3FFE)]
    public void SineOfHugeArgumentIsReducedLikeTheHardware(ulong argument, ulong significand, int signExponent)
    {
        // Expected: exact reduction by the 66-bit π/2 and a 400-bit Taylor series, rounded to nearest; a host
        // x87 gives the same bits.
        var m = new X87TestMachine();
        m.PutUInt64(0x100, argument);
        m.Run(a =>
        {
            a.fild(__qword_ptr[0x100]);
            a.fsin();
        });
        Assert.Equal(new Float80(significand, (ushort)signExponent), m.Fpu.GetStack(0));
        Assert.False(m.Flag(C2));
    }
}
