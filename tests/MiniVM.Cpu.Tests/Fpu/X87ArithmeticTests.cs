using System.Numerics;
using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87ArithmeticTests
{
    [Fact]
    public void OnePlusTwoStoresThree()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 2.0);
        m.Run(a =>
        {
            a.fld1();
            a.fadd(__qword_ptr[0x100]);
        });
        Assert.Equal(new Float80(0xC000_0000_0000_0000, 0x4000), m.Fpu.GetStack(0));
        m.Run(a => a.fstp(__qword_ptr[0x108]));
        Assert.Equal(3.0, m.GetDouble(0x108));
        Assert.Equal(0, m.Status & (PE | IE));
    }

    [Theory]
    [InlineData(0x037F, 0xAAAA_AAAA_AAAA_AAABUL, true)]   // nearest: rounds up, C1 = 1
    [InlineData(0x077F, 0xAAAA_AAAA_AAAA_AAAAUL, false)]  // down
    [InlineData(0x0B7F, 0xAAAA_AAAA_AAAA_AAABUL, true)]   // up
    [InlineData(0x0F7F, 0xAAAA_AAAA_AAAA_AAAAUL, false)]  // toward zero
    public void OneThirdRoundsPerRoundingControl(int controlWord, ulong significand, bool roundedUp)
    {
        var m = new X87TestMachine();
        m.LoadControlWord((ushort)controlWord);
        m.PutSingle(0x100, 3.0f);
        m.Run(a =>
        {
            a.fld1();
            a.fdiv(__dword_ptr[0x100]);
        });
        Assert.Equal(new Float80(significand, 0x3FFD), m.Fpu.GetStack(0));
        Assert.True(m.Flag(PE));
        Assert.Equal(roundedUp, m.Flag(C1));
    }

    [Fact]
    public void NegativeOneThirdRoundsDownAwayFromZero()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x077F);
        m.PutUInt32(0x100, 3);
        m.Run(a =>
        {
            a.fld1();
            a.fchs();
            a.fidiv(__dword_ptr[0x100]);
        });
        Assert.Equal(new Float80(0xAAAA_AAAA_AAAA_AAAB, 0xBFFD), m.Fpu.GetStack(0));
    }

    [Theory]
    [InlineData(0x027F, 1.0 / 3.0)]
    [InlineData(0x007F, (double)(1.0f / 3.0f))]
    public void PrecisionControlRoundsTheSignificand(int controlWord, double expected)
    {
        var m = new X87TestMachine();
        m.LoadControlWord((ushort)controlWord);
        m.PutDouble(0x100, 3.0);
        m.Run(a =>
        {
            a.fld1();
            a.fdiv(__qword_ptr[0x100]);
            a.fld(st0);
            a.fstp(__tword_ptr[0x110]);
            a.fstp(__qword_ptr[0x108]);
        });
        Assert.Equal(expected, m.GetDouble(0x108));
        // The register itself already holds the shorter significand: its low bits are zero.
        ulong significand = m.GetUInt64(0x110);
        Assert.Equal(0UL, significand & (controlWord == 0x027F ? 0x7FFUL : 0xFF_FFFF_FFFFUL));
    }

    [Fact]
    public void SquareRootOfTwoIsCorrectlyRounded()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 2.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fsqrt();
        });
        Assert.Equal(new Float80(0xB504_F333_F9DE_6484, 0x3FFF), m.Fpu.GetStack(0));
        Assert.True(m.Flag(PE));
    }

    [Fact]
    public void SquareRootOfPerfectSquareIsExact()
    {
        var m = new X87TestMachine();
        m.PutUInt64(0x100, 1_000_000_007UL * 1_000_000_007UL);
        m.Run(a =>
        {
            a.fild(__qword_ptr[0x100]);
            a.fsqrt();
            a.fistp(__qword_ptr[0x108]);
        });
        Assert.Equal(1_000_000_007UL, m.GetUInt64(0x108));
        Assert.Equal(0, m.Status & PE);
    }

    [Theory]
    [InlineData(10.0, 3.0, 1.0, 3)]
    [InlineData(-7.0, 2.0, -1.0, 3)]
    [InlineData(5.5, 2.0, 1.5, 2)]
    [InlineData(1.0, 4.0, 1.0, 0)]
    public void PartialRemainderTruncates(double dividend, double divisor, double remainder, int quotient)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, divisor);
        m.PutDouble(0x108, dividend);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fld(__qword_ptr[0x108]);
            a.fprem();
        });
        ushort status = m.Status; // read before FSTP, which rewrites C1
        m.Run(a => a.fstp(__qword_ptr[0x110]));
        Assert.Equal(remainder, m.GetDouble(0x110));
        Assert.Equal(0, status & C2);
        Assert.Equal(quotient, QuotientBits(status));
    }

    [Theory]
    [InlineData(10.0, 3.0, 1.0, 3)]
    [InlineData(11.0, 3.0, -1.0, 4)]
    [InlineData(5.0, 2.0, 1.0, 2)]   // 2.5 ties to the even quotient 2
    [InlineData(7.0, 2.0, -1.0, 4)]  // 3.5 ties to 4
    [InlineData(3.0, 4.0, -1.0, 1)]  // 0.75 rounds to quotient 1
    public void PartialRemainderIeeeRoundsTheQuotientToNearest(double dividend, double divisor, double remainder, int quotient)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, divisor);
        m.PutDouble(0x108, dividend);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fld(__qword_ptr[0x108]);
            a.fprem1();
        });
        ushort status = m.Status; // read before FSTP, which rewrites C1
        m.Run(a => a.fstp(__qword_ptr[0x110]));
        Assert.Equal(remainder, m.GetDouble(0x110));
        Assert.Equal(quotient, QuotientBits(status));
    }

    [Fact]
    public void PartialRemainderOfHugeDividendLoopsUntilC2Clears()
    {
        var m = new X87TestMachine();
        double dividend = 1e300, divisor = 3.0;
        m.PutDouble(0x100, divisor);
        m.PutDouble(0x108, dividend);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fld(__qword_ptr[0x108]);
        });
        int iterations = 0;
        do
        {
            m.Run(a => a.fprem());
            iterations++;
            Assert.True(iterations < 100, "FPREM must make progress");
        }
        while (m.Flag(C2));
        Assert.True(iterations > 1);
        m.Run(a => a.fstp(__qword_ptr[0x110]));
        var exact = (double)(new BigInteger(dividend) % 3);
        Assert.Equal(exact, m.GetDouble(0x110));
    }

    [Fact]
    public void MaskedInvalidProducesTheIndefinite()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fld1();
            a.fchs();
            a.fsqrt();
        });
        Assert.Equal(Float80.Indefinite, m.Fpu.GetStack(0));
        Assert.True(m.Flag(IE));
        Assert.False(m.Fpu.ErrorPending);
        m.Run(a => a.fstp(__qword_ptr[0x100]));
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.GetUInt64(0x100));
    }

    [Fact]
    public void InfinityMinusInfinityIsInvalid()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, double.PositiveInfinity);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fsub(__qword_ptr[0x100]);
        });
        Assert.Equal(Float80.Indefinite, m.Fpu.GetStack(0));
        Assert.True(m.Flag(IE));
    }

    [Fact]
    public void UnmaskedInvalidLeavesTheOperandAndSetsErrorPending()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x037E);
        m.Run(a =>
        {
            a.fld1();
            a.fchs();
            a.fsqrt();
        });
        Assert.Equal(Float80.One.Negate(), m.Fpu.GetStack(0));
        Assert.True(m.Fpu.ErrorPending);
        Assert.Equal(IE | ES | B, m.Status & (IE | ES | B));
        m.Run(a => a.fnclex());
        Assert.False(m.Fpu.ErrorPending);
        Assert.Equal(0, m.Status & (IE | ES | B));
    }

    [Fact]
    public void UnmaskingAPendingExceptionWithFldcwSetsErrorPending()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fldz();
            a.fld1();
            a.fdivrp(st1, st0);
        });
        Assert.True(m.Flag(ZE));
        Assert.Equal(Float80.PositiveInfinity, m.Fpu.GetStack(0));
        Assert.False(m.Fpu.ErrorPending);
        m.LoadControlWord(0x037B);
        Assert.True(m.Fpu.ErrorPending);
    }

    [Fact]
    public void DivideByZeroGivesSignedInfinity()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, -0.0);
        m.Run(a =>
        {
            a.fld1();
            a.fdiv(__qword_ptr[0x100]);
        });
        Assert.Equal(Float80.NegativeInfinity, m.Fpu.GetStack(0));
        Assert.True(m.Flag(ZE));
    }

    [Fact]
    public void RegisterFormsUseTheRightOperandOrder()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 10.0);
        m.PutDouble(0x108, 4.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]); // ST1 = 10
            a.fld(__qword_ptr[0x108]); // ST0 = 4
            a.fsub(st1, st0);          // ST1 = 10 - 4 = 6
            a.fsubr(st0, st1);         // ST0 = 6 - 4 = 2
            a.fdivp(st1, st0);         // ST1 = 6 / 2 = 3, pop
            a.fstp(__qword_ptr[0x110]);
        });
        Assert.Equal(3.0, m.GetDouble(0x110));
        Assert.Equal(0, m.Fpu.Top);
    }

    [Fact]
    public void OverflowMaskedRoundsToInfinityAndUnmaskedToMemoryStoresNothing()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, double.MaxValue);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fadd(st0, st0);
            a.fst(__qword_ptr[0x108]);
        });
        Assert.Equal(double.PositiveInfinity, m.GetDouble(0x108));
        Assert.True(m.Flag(OE));
        Assert.True(m.Flag(PE));

        var unmasked = new X87TestMachine();
        unmasked.PutDouble(0x100, double.MaxValue);
        unmasked.PutDouble(0x108, 42.0);
        unmasked.LoadControlWord(0x0377);
        unmasked.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fadd(st0, st0);
            a.fstp(__qword_ptr[0x108]);
        });
        Assert.Equal(42.0, unmasked.GetDouble(0x108));
        Assert.True(unmasked.Fpu.ErrorPending);
        Assert.Equal(7, unmasked.Fpu.Top);
    }

    [Fact]
    public void StoringATinyValueToSingleDenormalizesAndFlagsUnderflow()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 1e-40);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fstp(__dword_ptr[0x108]);
        });
        Assert.Equal(1e-40f, m.GetSingle(0x108));
        Assert.True(m.Flag(UE));
        Assert.True(m.Flag(PE));
    }

    [Fact]
    public void ScaleAndExtractAreExact()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 3.0);
        m.PutDouble(0x108, -2.75);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);  // scale 3
            a.fld(__qword_ptr[0x108]);  // -2.75
            a.fscale();                 // -22
            a.fst(__qword_ptr[0x110]);
            a.fxtract();                // ST0 = significand -1.375, ST1 = exponent 4
            a.fstp(__qword_ptr[0x118]);
            a.fstp(__qword_ptr[0x120]);
        });
        Assert.Equal(-22.0, m.GetDouble(0x110));
        Assert.Equal(-1.375, m.GetDouble(0x118));
        Assert.Equal(4.0, m.GetDouble(0x120));
        Assert.Equal(0, m.Status & PE);
    }

    [Theory]
    [InlineData(0x037F, 2.5, 2.0)]
    [InlineData(0x037F, 3.5, 4.0)]
    [InlineData(0x077F, -2.5, -3.0)]
    [InlineData(0x0B7F, 2.25, 3.0)]
    [InlineData(0x0F7F, -2.75, -2.0)]
    [InlineData(0x0F7F, -0.75, -0.0)]
    public void RoundToIntegerFollowsRoundingControl(int controlWord, double input, double expected)
    {
        var m = new X87TestMachine();
        m.LoadControlWord((ushort)controlWord);
        m.PutDouble(0x100, input);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.frndint();
            a.fstp(__qword_ptr[0x108]);
        });
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(m.GetDouble(0x108)));
        Assert.True(m.Flag(PE));
    }

    [Fact]
    public void MaskedUnderflowDenormalizesTheRegisterResult()
    {
        var m = new X87TestMachine();
        // 2^-16382 (smallest normal) × 0.75 = a denormal with an exact significand: no UE, no PE.
        new Float80(0x8000_0000_0000_0000, 0x0001).Write(m.Memory.Bytes.AsSpan(0x100));
        m.PutDouble(0x110, 0.75);
        m.Run(a =>
        {
            a.fld(__tword_ptr[0x100]);
            a.fmul(__qword_ptr[0x110]);
        });
        Assert.Equal(new Float80(0x6000_0000_0000_0000, 0x0000), m.Fpu.GetStack(0));
        Assert.Equal(0, m.Status & (UE | PE));
        // × 2^-70 loses bits: UE and PE together, result rounded to nearest.
        m.PutDouble(0x118, Math.ScaleB(1.0, -70));
        m.Run(a => a.fmul(__qword_ptr[0x118]));
        Assert.Equal(UE | PE, m.Status & (UE | PE));
        Assert.True(m.Fpu.GetStack(0).IsZero);
    }

    [Fact]
    public void UnmaskedUnderflowDeliversTheResultWithTheExponentBiasedUp()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x036F);
        new Float80(0x8000_0000_0000_0000, 0x0001).Write(m.Memory.Bytes.AsSpan(0x100));
        m.PutDouble(0x110, 0.5);
        m.Run(a =>
        {
            a.fld(__tword_ptr[0x100]);
            a.fmul(__qword_ptr[0x110]);
        });
        // True exponent −16383 (biased 0) + 24576 = 6000h (SDM vol. 1 §4.9.1.5).
        Assert.Equal(new Float80(0x8000_0000_0000_0000, 0x6000), m.Fpu.GetStack(0));
        Assert.True(m.Flag(UE));
        Assert.True(m.Fpu.ErrorPending);
    }

    [Fact]
    public void UnmaskedPrecisionStillDeliversTheResult()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x035F);
        m.PutSingle(0x100, 3.0f);
        m.Run(a =>
        {
            a.fld1();
            a.fdiv(__dword_ptr[0x100]);
        });
        Assert.Equal(new Float80(0xAAAA_AAAA_AAAA_AAAB, 0x3FFD), m.Fpu.GetStack(0));
        Assert.True(m.Fpu.ErrorPending);
    }

    [Fact]
    public void UnmaskedInvalidOnLoadingSignallingNaNPushesNothing()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x037E);
        m.PutUInt32(0x100, 0x7F80_0001);
        m.Run(a => a.fld(__dword_ptr[0x100]));
        Assert.Equal(0, m.Fpu.Top);
        Assert.True(m.Fpu.IsStackEmpty(0));
        Assert.True(m.Fpu.ErrorPending);
    }

    private static int QuotientBits(ushort status) =>
        ((status & C0) != 0 ? 4 : 0) | ((status & C3) != 0 ? 2 : 0) | ((status & C1) != 0 ? 1 : 0);
}
