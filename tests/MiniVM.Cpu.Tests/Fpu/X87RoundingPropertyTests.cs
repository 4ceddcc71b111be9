using System.Numerics;
using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Fpu;

/// <summary>
/// Seeded random cross-checks of the basic operations: at PC=53 and PC=24 against the host's IEEE double and
/// single arithmetic, and at PC=64 against an exact BigInteger rational rounded to nearest-even.
/// </summary>
public sealed class X87RoundingPropertyTests
{
    private const int Samples = 400;

    private static double RandomDouble(Random random, int maxExponent)
    {
        double significand = 1.0 + random.NextDouble();
        double value = Math.ScaleB(significand, random.Next(-maxExponent, maxExponent + 1));
        return random.Next(2) == 0 ? value : -value;
    }

    [Theory]
    [InlineData("add")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("div")]
    [InlineData("sqrt")]
    public void DoublePrecisionControlMatchesHostDoubles(string operation)
    {
        var random = new Random(1234 + operation.Length);
        var m = new X87TestMachine();
        m.LoadControlWord(0x027F);
        for (int i = 0; i < Samples; i++)
        {
            double a = RandomDouble(random, 200), b = RandomDouble(random, 200);
            if (i % 7 == 0)
            {
                b = -a * (1 + Math.ScaleB(1.0, -random.Next(1, 60))); // heavy cancellation
            }
            if (operation == "sqrt")
            {
                a = Math.Abs(a);
            }
            m.PutDouble(0x100, a);
            m.PutDouble(0x108, b);
            m.Run(x =>
            {
                x.fld(__qword_ptr[0x100]);
                switch (operation)
                {
                    case "add": x.fadd(__qword_ptr[0x108]); break;
                    case "sub": x.fsub(__qword_ptr[0x108]); break;
                    case "mul": x.fmul(__qword_ptr[0x108]); break;
                    case "div": x.fdiv(__qword_ptr[0x108]); break;
                    default: x.fsqrt(); break;
                }
                x.fstp(__qword_ptr[0x110]);
            });
            double expected = operation switch
            {
                "add" => a + b,
                "sub" => a - b,
                "mul" => a * b,
                "div" => a / b,
                _ => Math.Sqrt(a),
            };
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(m.GetDouble(0x110)),
                $"{a:R} {operation} {b:R}: expected {expected:R}, got {m.GetDouble(0x110):R}");
        }
    }

    [Fact]
    public void SinglePrecisionControlMatchesHostSingles()
    {
        var random = new Random(77);
        var m = new X87TestMachine();
        m.LoadControlWord(0x007F);
        for (int i = 0; i < Samples; i++)
        {
            float a = (float)RandomDouble(random, 60), b = (float)RandomDouble(random, 60);
            m.PutSingle(0x100, a);
            m.PutSingle(0x104, b);
            m.Run(x =>
            {
                x.fld(__dword_ptr[0x100]);
                x.fld(st0);
                x.fmul(__dword_ptr[0x104]);
                x.fstp(__dword_ptr[0x108]);
                x.fdiv(__dword_ptr[0x104]);
                x.fstp(__dword_ptr[0x10C]);
            });
            Assert.Equal(a * b, m.GetSingle(0x108));
            Assert.Equal(a / b, m.GetSingle(0x10C));
        }
    }

    [Theory]
    [InlineData("add", RoundingMode.Nearest)]
    [InlineData("sub", RoundingMode.Nearest)]
    [InlineData("mul", RoundingMode.Nearest)]
    [InlineData("div", RoundingMode.Nearest)]
    [InlineData("add", RoundingMode.Down)]
    [InlineData("sub", RoundingMode.Up)]
    [InlineData("mul", RoundingMode.TowardZero)]
    [InlineData("div", RoundingMode.Up)]
    [InlineData("div", RoundingMode.Down)]
    public void ExtendedPrecisionMatchesExactRationalRounding(string operation, RoundingMode mode)
    {
        var random = new Random(99 + operation.Length + (int)mode);
        var m = new X87TestMachine();
        m.LoadControlWord((ushort)(0x037F | ((int)mode << 10)));
        for (int i = 0; i < Samples; i++)
        {
            ulong aSig = (ulong)random.NextInt64() | 0x8000_0000_0000_0000, bSig = (ulong)random.NextInt64() | 0x8000_0000_0000_0000;
            int aExp = random.Next(-80, 81), bExp = i % 5 == 0 ? aExp : random.Next(-80, 81);
            bool aNeg = random.Next(2) == 0, bNeg = random.Next(2) == 0;
            var a = new Float80(aSig, (ushort)((aExp + Float80.Bias) | (aNeg ? 0x8000 : 0)));
            var b = new Float80(bSig, (ushort)((bExp + Float80.Bias) | (bNeg ? 0x8000 : 0)));
            a.Write(m.Memory.Bytes.AsSpan(0x100));
            b.Write(m.Memory.Bytes.AsSpan(0x110));
            m.Run(x =>
            {
                x.fld(__tword_ptr[0x110]);
                x.fld(__tword_ptr[0x100]);
                switch (operation)
                {
                    case "add": x.faddp(st1, st0); break;
                    case "sub": x.fsubrp(st1, st0); break; // ST1 = ST0 - ST1 = a - b
                    case "mul": x.fmulp(st1, st0); break;
                    default: x.fdivrp(st1, st0); break;     // ST1 = ST0 / ST1 = a / b
                }
            });
            BigInteger aValue = aNeg ? -(BigInteger)aSig : aSig, bValue = bNeg ? -(BigInteger)bSig : bSig;
            int low = Math.Min(aExp, bExp);
            (BigInteger numerator, BigInteger denominator, int exponent) = operation switch
            {
                "add" => ((aValue << (aExp - low)) + (bValue << (bExp - low)), BigInteger.One, low - 63),
                "sub" => ((aValue << (aExp - low)) - (bValue << (bExp - low)), BigInteger.One, low - 63),
                "mul" => (aValue * bValue, BigInteger.One, aExp + bExp - 126),
                _ => (aValue, bValue, aExp - bExp),
            };
            Float80 expected = RoundExactly(numerator, denominator, exponent, mode);
            Float80 actual = m.Fpu.GetStack(0);
            Assert.True(expected == actual, $"{a} {operation} {b}: expected {expected}, got {actual}");
            m.Run(x => x.fstp(st0));
        }
    }

    /// <summary>numerator / denominator × 2^exponent rounded to a 64-bit significand per <paramref name="mode"/>.</summary>
    private static Float80 RoundExactly(BigInteger numerator, BigInteger denominator, int exponent, RoundingMode mode)
    {
        bool negative = (numerator.Sign < 0) != (denominator.Sign < 0);
        numerator = BigInteger.Abs(numerator);
        denominator = BigInteger.Abs(denominator);
        if (numerator.IsZero)
        {
            return mode == RoundingMode.Down ? Float80.NegativeZero : Float80.PositiveZero;
        }
        // Choose k so that 2^63 <= numerator × 2^k / denominator < 2^64.
        int k = 63 - (int)(numerator.GetBitLength() - denominator.GetBitLength());
        BigInteger Scaled(int shift) => shift >= 0 ? numerator << shift : numerator;
        BigInteger Divisor(int shift) => shift >= 0 ? denominator : denominator << -shift;
        while (BigInteger.Divide(Scaled(k), Divisor(k)) >= BigInteger.One << 64)
        {
            k--;
        }
        while (BigInteger.Divide(Scaled(k), Divisor(k)) < BigInteger.One << 63)
        {
            k++;
        }
        BigInteger quotient = BigInteger.DivRem(Scaled(k), Divisor(k), out BigInteger remainder);
        BigInteger twice = remainder * 2;
        bool up = !remainder.IsZero && mode switch
        {
            RoundingMode.Nearest => twice > Divisor(k) || (twice == Divisor(k) && !quotient.IsEven),
            RoundingMode.Up => !negative,
            RoundingMode.Down => negative,
            _ => false,
        };
        if (up)
        {
            quotient++;
            if (quotient == BigInteger.One << 64)
            {
                quotient >>= 1;
                k--;
            }
        }
        int unbiased = 63 + exponent - k;
        return new Float80((ulong)quotient, (ushort)((unbiased + Float80.Bias) | (negative ? 0x8000 : 0)));
    }
}
