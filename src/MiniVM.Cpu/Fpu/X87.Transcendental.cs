using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// Transcendental instructions, evaluated with 128-bit-significand series (WideFloat) and rounded once per RC
/// into the destination, so results are accurate to the last bit or so of the 64-bit significand. Argument
/// reduction for FSIN/FCOS/FSINCOS/FPTAN is done exactly, but against the 66-bit π/2 the hardware uses, so
/// results for large arguments (and fsin(fldpi)) agree with real x87s rather than with the true function.
/// </summary>
public sealed partial class X87
{
    /// <summary>Series that have not converged after this many terms are arguments outside the documented
    /// domain (SDM: results undefined); the partial sum is returned.</summary>
    private const int MaxSeriesTerms = 400;

    /// <summary>FSIN, FCOS, FSINCOS, FPTAN. |x| ≥ 2^63 sets C2 and leaves the stack unchanged (SDM vol. 2 FSIN).</summary>
    private void Trigonometric(Code code)
    {
        bool pushes = code is Code.Fsincos or Code.Fptan;
        if (IsEmpty(0))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        if (pushes && !IsEmpty(7))
        {
            Push(Float80.Indefinite, X87Exceptions.None);
            return;
        }
        Float80 x = St(0);
        RoundingContext ctx = ExtendedContext();
        Float80 first, second = default;
        if (ExtendedArithmetic.TryPropagateNaN(x, ref ctx, out Float80 nan))
        {
            first = second = nan;
        }
        else if (x.IsInfinity)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            first = second = Float80.Indefinite;
        }
        else if (x.IsZero)
        {
            (first, second) = code switch
            {
                Code.Fcos => (Float80.One, default),
                Code.Fsincos => (x, Float80.One),
                Code.Fptan => (x, Float80.One),
                _ => (x, default),
            };
        }
        else
        {
            x.Unpack(out _, out int exponent, out _);
            if (exponent >= 63)
            {
                statusWord |= C2;
                return;
            }
            if (x.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            SineCosine(WideFloat.FromFloat80(x), out WideFloat sine, out WideFloat cosine);
            (first, second) = code switch
            {
                Code.Fsin => (sine.Round(ref ctx), default),
                Code.Fcos => (cosine.Round(ref ctx), default),
                Code.Fsincos => (sine.Round(ref ctx), cosine.Round(ref ctx)),
                _ => ((sine / cosine).Round(ref ctx), Float80.One),
            };
        }
        if (SuppressesResult(ctx.Raised))
        {
            Signal(ctx.Raised);
            return;
        }
        statusWord &= unchecked((ushort)~C2);
        SetSt(0, first);
        if (pushes)
        {
            Push(second, X87Exceptions.None);
        }
        // C1 reports rounding of the results, not the push (which cleared it).
        SetC1(ctx.RoundedUp);
        Signal(ctx.Raised);
    }

    /// <summary>sin and cos of |x| &lt; 2^63: x = k·π₆₆/2 + r with |r| ≲ π/4, Taylor series on r, quadrant from k.</summary>
    private static void SineCosine(WideFloat x, out WideFloat sine, out WideFloat cosine)
    {
        long k = (x * WideFloat.TwoOverPi).RoundToInteger();
        WideFloat r = x;
        if (k != 0)
        {
            WideFloat multiple = WideFloat.FromInteger(k);
            r = r - multiple * WideFloat.HalfPiPart1 - multiple * WideFloat.HalfPiPart2;
        }
        WideFloat square = r * r;
        WideFloat sinSum = r, cosSum = WideFloat.One;
        WideFloat sinTerm = r, cosTerm = WideFloat.One;
        // Each series stops after its first term below the sum's last place: that term's sticky bit carries
        // the sign of the whole (alternating, decreasing) tail; adding further tiny terms could cancel it.
        bool sinDone = false, cosDone = false;
        for (int n = 1; n < MaxSeriesTerms && !(sinDone && cosDone); n++)
        {
            if (!sinDone)
            {
                sinTerm = -(sinTerm * square) / ((2 * n) * (2 * n + 1));
                sinSum += sinTerm;
                sinDone = sinTerm.IsNegligibleAgainst(sinSum);
            }
            if (!cosDone)
            {
                cosTerm = -(cosTerm * square) / ((2 * n - 1) * (2 * n));
                cosSum += cosTerm;
                cosDone = cosTerm.IsNegligibleAgainst(cosSum);
            }
        }
        (sine, cosine) = (k & 3) switch
        {
            0 => (sinSum, cosSum),
            1 => (cosSum, -sinSum),
            2 => (-sinSum, -cosSum),
            _ => (-cosSum, sinSum),
        };
    }

    /// <summary>FPATAN: ST(1) = arctan(ST(1) / ST(0)) in the quadrant of (ST(0), ST(1)), then pop.</summary>
    private void ArcTangent()
    {
        if (IsEmpty(0) || IsEmpty(1))
        {
            StackUnderflow(1, pop: true);
            return;
        }
        Float80 x = St(0), y = St(1);
        RoundingContext ctx = ExtendedContext();
        Float80 result;
        if (ExtendedArithmetic.TryPropagateNaN(y, x, ref ctx, out Float80 nan))
        {
            result = nan;
        }
        else
        {
            if (x.IsDenormal || y.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            result = ArcTangent2(y, x).Round(ref ctx);
            // atan2(±0, +x) = ±0 keeps the sign of y even though the wide zero is unsigned.
            if (result.IsZero)
            {
                result = Float80.Zero(y.IsNegative);
            }
        }
        Commit(1, result, ctx, pop: true);
    }

    /// <summary>atan2 for non-NaN operands, infinities and zeros included (SDM vol. 2 FPATAN Table 3-29).</summary>
    private static WideFloat ArcTangent2(Float80 y, Float80 x)
    {
        // Reduce to atan(t), 0 ≤ t ≤ 1, then undo the swap (π/2 − a) and the left half-plane (π − a).
        bool swapped;
        WideFloat a;
        if (y.IsInfinity && x.IsInfinity)
        {
            swapped = false;
            a = WideFloat.QuarterPi;
        }
        else if (y.IsZero || x.IsInfinity)
        {
            // atan2(±0, x) is ±0 or ±π; atan2(finite, ±∞) likewise.
            swapped = false;
            a = WideFloat.Zero;
        }
        else if (y.IsInfinity || x.IsZero)
        {
            // ±π/2.
            swapped = true;
            a = WideFloat.Zero;
        }
        else
        {
            WideFloat wy = WideFloat.FromFloat80(y).Abs(), wx = WideFloat.FromFloat80(x).Abs();
            swapped = WideFloat.CompareMagnitude(wy, wx) > 0;
            a = ArcTangentOfRatio(swapped ? wx / wy : wy / wx);
        }
        if (swapped)
        {
            a = WideFloat.HalfPi - a;
        }
        if (x.IsNegative)
        {
            a = WideFloat.Pi - a;
        }
        return y.IsNegative ? -a : a;
    }

    /// <summary>atan(t) for 0 ≤ t ≤ 1: above tan(π/8) use atan t = π/4 + atan((t − 1)/(t + 1)); then the series.</summary>
    private static WideFloat ArcTangentOfRatio(WideFloat t)
    {
        WideFloat offset = WideFloat.Zero;
        if (WideFloat.CompareMagnitude(t, WideFloat.Sqrt2 - WideFloat.One) > 0)
        {
            offset = WideFloat.QuarterPi;
            t = (t - WideFloat.One) / (t + WideFloat.One);
        }
        WideFloat square = t * t, power = t, sum = t;
        for (int n = 1; n < MaxSeriesTerms; n++)
        {
            power = -(power * square);
            WideFloat term = power / (2 * n + 1);
            sum += term;
            if (term.IsNegligibleAgainst(sum))
            {
                break;
            }
        }
        return offset + sum;
    }

    /// <summary>F2XM1: 2^x − 1, defined for −1 ≤ x ≤ 1 (outside, a best-effort value clamped to ±20000).</summary>
    private void TwoToXMinusOne()
    {
        if (IsEmpty(0))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        Float80 x = St(0);
        RoundingContext ctx = ExtendedContext();
        Float80 result;
        if (ExtendedArithmetic.TryPropagateNaN(x, ref ctx, out Float80 nan))
        {
            result = nan;
        }
        else if (x.IsInfinity)
        {
            result = x.IsNegative ? new Float80(Float80.IntegerBit, 0x8000 | Float80.Bias) : x;
        }
        else if (x.IsZero)
        {
            result = x;
        }
        else
        {
            if (x.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            WideFloat wide = WideFloat.FromFloat80(x);
            if (wide.Exponent >= 0)
            {
                // |x| ≥ 1: 2^x − 1 = 2^n · 2^f − 1 with n = round(x), |f| ≤ 1/2.
                x.Unpack(out _, out int exponent, out _);
                long n = exponent > 15 ? (x.IsNegative ? -20000 : 20000) : wide.RoundToInteger();
                WideFloat fraction = exponent > 15 ? WideFloat.Zero : wide - WideFloat.FromInteger(n);
                WideFloat power = (ExpMinusOne(fraction * WideFloat.Ln2) + WideFloat.One).Scale((int)n);
                result = (power - WideFloat.One).Round(ref ctx);
            }
            else
            {
                result = ExpMinusOne(wide * WideFloat.Ln2).Round(ref ctx);
            }
        }
        Commit(0, result, ctx, pop: false);
    }

    /// <summary>e^t − 1 by its Taylor series, without the cancellation of computing e^t first.</summary>
    private static WideFloat ExpMinusOne(WideFloat t)
    {
        WideFloat term = t, sum = t;
        for (int n = 2; n < MaxSeriesTerms; n++)
        {
            term = term * t / n;
            sum += term;
            if (term.IsNegligibleAgainst(sum))
            {
                break;
            }
        }
        return sum;
    }

    /// <summary>FYL2X: ST(1) × log2(ST(0)); FYL2XP1: ST(1) × log2(ST(0) + 1). Pops once.</summary>
    private void YLog2X(bool plusOne)
    {
        if (IsEmpty(0) || IsEmpty(1))
        {
            StackUnderflow(1, pop: true);
            return;
        }
        Float80 x = St(0), y = St(1);
        RoundingContext ctx = ExtendedContext();
        Float80 result = ExtendedArithmetic.TryPropagateNaN(x, y, ref ctx, out Float80 nan)
            ? nan
            : plusOne ? YLog2XPlusOne(x, y, ref ctx) : YLog2XCore(x, y, ref ctx);
        Commit(1, result, ctx, pop: true);
    }

    private static Float80 YLog2XCore(Float80 x, Float80 y, ref RoundingContext ctx)
    {
        if (x.IsNegative && !x.IsZero)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            return Float80.Indefinite;
        }
        if (x.IsDenormal || y.IsDenormal)
        {
            ctx.Raised |= X87Exceptions.Denormal;
        }
        if (x.IsZero)
        {
            // log2(0) = −∞: y × −∞, with 0 × ∞ invalid and a finite y a division by zero (SDM vol. 2 FYL2X).
            if (y.IsZero)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            if (!y.IsInfinity)
            {
                ctx.Raised |= X87Exceptions.ZeroDivide;
            }
            return Float80.Infinity(!y.IsNegative);
        }
        if (x.IsInfinity)
        {
            if (y.IsZero)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            return Float80.Infinity(y.IsNegative);
        }
        return ScaleByLogarithm(y, Log2(WideFloat.FromFloat80(x)), ref ctx);
    }

    private static Float80 YLog2XPlusOne(Float80 x, Float80 y, ref RoundingContext ctx)
    {
        if (x.IsDenormal || y.IsDenormal)
        {
            ctx.Raised |= X87Exceptions.Denormal;
        }
        if (x.IsInfinity)
        {
            if (x.IsNegative || y.IsZero)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            return Float80.Infinity(y.IsNegative);
        }
        if (x.IsZero)
        {
            if (y.IsInfinity)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            return Float80.Zero(x.IsNegative != y.IsNegative);
        }
        WideFloat wide = WideFloat.FromFloat80(x);
        WideFloat sum = wide + WideFloat.One;
        if (sum.Negative || sum.IsZero)
        {
            // log2 of a non-positive number (x ≤ −1): outside the domain.
            ctx.Raised |= X87Exceptions.Invalid;
            return Float80.Indefinite;
        }
        // Inside FYL2XP1's domain use x / (2 + x) directly, which keeps every bit of a tiny x.
        WideFloat logarithm = wide.Exponent < -2
            ? TwiceArtanh(wide / (wide + WideFloat.One.Scale(1))) * WideFloat.Log2E
            : Log2(sum);
        return ScaleByLogarithm(y, logarithm, ref ctx);
    }

    /// <summary>y × log, rounded once; a zero logarithm makes ∞ × 0 invalid.</summary>
    private static Float80 ScaleByLogarithm(Float80 y, WideFloat logarithm, ref RoundingContext ctx)
    {
        if (logarithm.IsZero)
        {
            if (y.IsInfinity)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            return Float80.Zero(y.IsNegative);
        }
        if (y.IsInfinity)
        {
            return Float80.Infinity(y.IsNegative != logarithm.Negative);
        }
        if (y.IsZero)
        {
            return Float80.Zero(y.IsNegative != logarithm.Negative);
        }
        return (WideFloat.FromFloat80(y) * logarithm).Round(ref ctx);
    }

    /// <summary>log2 of a positive value: the binary exponent plus log2 of a significand in [√½, √2).</summary>
    private static WideFloat Log2(WideFloat value)
    {
        int exponent = value.Exponent;
        WideFloat significand = value.Scale(-exponent);
        if (WideFloat.CompareMagnitude(significand, WideFloat.Sqrt2) > 0)
        {
            significand = significand.Scale(-1);
            exponent++;
        }
        WideFloat fraction = WideFloat.Zero;
        if (WideFloat.CompareMagnitude(significand, WideFloat.One) != 0)
        {
            WideFloat s = (significand - WideFloat.One) / (significand + WideFloat.One);
            fraction = TwiceArtanh(s) * WideFloat.Log2E;
        }
        return WideFloat.FromInteger(exponent) + fraction;
    }

    /// <summary>2·artanh(s) = ln((1 + s)/(1 − s)) = 2(s + s³/3 + s⁵/5 + …), |s| ≤ 0.18 here.</summary>
    private static WideFloat TwiceArtanh(WideFloat s)
    {
        WideFloat square = s * s, power = s, sum = s;
        for (int n = 1; n < MaxSeriesTerms; n++)
        {
            power *= square;
            WideFloat term = power / (2 * n + 1);
            sum += term;
            if (term.IsNegligibleAgainst(sum))
            {
                break;
            }
        }
        return sum.Scale(1);
    }
}
