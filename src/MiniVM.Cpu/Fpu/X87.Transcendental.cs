using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// Transcendental instructions. Their core is host double arithmetic (see the precision note on X87): the
/// exponent is handled exactly in extended form, tiny arguments use exact first-order results, and only the
/// remaining function value passes through a 53-bit double.
/// </summary>
public sealed partial class X87
{
    private static readonly Float80 Ln2 = new(0xB17217F7D1CF79AC, Float80.Bias - 1);
    private static readonly Float80 Log2E = new(0xB8AA3B295C17F0BC, Float80.Bias);

    /// <summary>Arguments with an exponent below this give sin x = tan x = x and cos x = 1 to 64 bits.</summary>
    private const int TinyArgumentExponent = -40;

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
            ctx.Raised |= X87Exceptions.Precision;
            Float80 sine, cosine, tangent;
            if (exponent < TinyArgumentExponent)
            {
                sine = tangent = x;
                cosine = Float80.One;
            }
            else
            {
                double argument = RealFormats.ToHost(x);
                sine = FromHostResult(Math.Sin(argument), ref ctx);
                cosine = FromHostResult(Math.Cos(argument), ref ctx);
                tangent = FromHostResult(Math.Tan(argument), ref ctx);
            }
            (first, second) = code switch
            {
                Code.Fsin => (sine, default),
                Code.Fcos => (cosine, default),
                Code.Fsincos => (sine, cosine),
                _ => (tangent, Float80.One),
            };
        }
        if (SuppressesResult(ctx.Raised))
        {
            Signal(ctx.Raised);
            return;
        }
        statusWord &= unchecked((ushort)~C2);
        SetSt(0, first);
        SetC1(false);
        if (pushes)
        {
            Push(second, X87Exceptions.None);
        }
        Signal(ctx.Raised);
    }

    private static Float80 FromHostResult(double value, ref RoundingContext ctx) =>
        ExtendedArithmetic.RoundValue(RealFormats.FromHost(value), 0, ref ctx);

    /// <summary>Host double of value × 2^−shift, so that two operands can be brought into double range together.</summary>
    private static double ToHostScaled(Float80 value, int shift)
    {
        if (value.IsZero || value.IsInfinity)
        {
            return RealFormats.ToHost(value);
        }
        value.Unpack(out bool negative, out int exponent, out ulong significand);
        double magnitude = Math.ScaleB((double)significand, exponent - 63 - shift);
        return negative ? -magnitude : magnitude;
    }

    /// <summary>FPATAN: ST(1) = arctan(ST(1) / ST(0)) with the quadrant of atan2, then pop.</summary>
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
            int shift = 0;
            bool finite = !x.IsZero && !y.IsZero && !x.IsInfinity && !y.IsInfinity;
            if (finite)
            {
                x.Unpack(out _, out int xExponent, out _);
                y.Unpack(out _, out int yExponent, out _);
                shift = Math.Max(xExponent, yExponent);
                if (!x.IsNegative && yExponent - xExponent < TinyArgumentExponent)
                {
                    // arctan(y/x) = y/x to 64 bits; the double path would lose it to underflow.
                    result = ExtendedArithmetic.Divide(y, x, ref ctx);
                    ctx.Raised |= X87Exceptions.Precision;
                    Commit(1, result, ctx, pop: true);
                    return;
                }
            }
            double angle = Math.Atan2(ToHostScaled(y, shift), ToHostScaled(x, shift));
            result = FromHostResult(angle, ref ctx);
            if (!(y.IsZero && !x.IsNegative))
            {
                ctx.Raised |= X87Exceptions.Precision;
            }
        }
        Commit(1, result, ctx, pop: true);
    }

    /// <summary>F2XM1: 2^x − 1 for −1 ≤ x ≤ 1 (other arguments give a double-range result, undefined on hardware).</summary>
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
            x.Unpack(out _, out int exponent, out _);
            if (exponent < TinyArgumentExponent)
            {
                result = ExtendedArithmetic.Multiply(x, Ln2, ref ctx);
            }
            else
            {
                double argument = Math.Clamp(RealFormats.ToHost(x), -2048.0, 2048.0);
                double power = Math.Pow(2.0, argument);
                // Kahan's expm1 trick: the rounding error of pow cancels in (u − 1) / log2(u).
                double value = power == 1.0 ? argument * Math.Log(2.0) : (power - 1.0) * argument / Math.Log2(power);
                result = FromHostResult(value, ref ctx);
            }
            ctx.Raised |= X87Exceptions.Precision;
        }
        Commit(0, result, ctx, pop: false);
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
        x.Unpack(out _, out int exponent, out ulong significand);
        Float80 logarithm;
        if (significand == Float80.IntegerBit)
        {
            logarithm = ExtendedArithmetic.FromInt64(exponent);
        }
        else
        {
            double fraction = Math.Log2(Math.ScaleB((double)significand, -63));
            // The exponent is added in extended precision so that huge and tiny x keep their accuracy.
            RoundingContext inner = new(64, RoundingMode.Nearest, false, false);
            logarithm = ExtendedArithmetic.Add(ExtendedArithmetic.FromInt64(exponent), RealFormats.FromHost(fraction), ref inner);
            ctx.Raised |= X87Exceptions.Precision;
        }
        if (logarithm.IsZero)
        {
            if (y.IsInfinity)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            return Float80.Zero(y.IsNegative);
        }
        return ExtendedArithmetic.Multiply(y, logarithm, ref ctx);
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
        x.Unpack(out _, out int exponent, out _);
        Float80 logarithm;
        if (exponent < TinyArgumentExponent)
        {
            logarithm = ExtendedArithmetic.Multiply(x, Log2E, ref ctx);
        }
        else
        {
            double argument = RealFormats.ToHost(x);
            double sum = 1.0 + argument;
            if (sum <= 0.0)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            // log1p by Kahan's trick, scaled to base 2.
            double value = sum == 1.0 ? argument * (1.0 / Math.Log(2.0)) : Math.Log2(sum) * argument / (sum - 1.0);
            logarithm = RealFormats.FromHost(value);
        }
        ctx.Raised |= X87Exceptions.Precision;
        if (y.IsInfinity)
        {
            return Float80.Infinity(y.IsNegative != logarithm.IsNegative);
        }
        return ExtendedArithmetic.Multiply(y, logarithm, ref ctx);
    }
}
