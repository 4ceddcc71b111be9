namespace MiniVM.Cpu.Fpu;

/// <summary>
/// Software extended-precision arithmetic: every basic operation computes an exact (or sticky-jammed)
/// 128-bit intermediate and rounds it once, per SDM vol. 1 §4.8.4 (RC) and §8.1.5.2 (PC). The functions are
/// pure: they report raised exceptions in the context and X87 decides whether to commit the result.
/// </summary>
internal static class ExtendedArithmetic
{
    /// <summary>A destination format: significand precision in bits, exponent bias, the all-ones exponent and
    /// the bias adjustment applied on unmasked overflow/underflow (only register destinations have one,
    /// SDM vol. 1 §8.5.4; a memory destination is simply not written).</summary>
    internal readonly record struct Format(int Bias, int MaxBiased, int WrapAdjust);

    public static readonly Format Extended = new(Float80.Bias, 0x7FFF, 0x6000);
    public static readonly Format Double = new(1023, 0x7FF, 0);
    public static readonly Format Single = new(127, 0xFF, 0);

    private static readonly UInt128 Top = UInt128.One << 127;

    /// <summary>Rounds value = sig × 2^(exponent − 127) into <paramref name="format"/>. The result significand
    /// is left-aligned (integer bit at bit 127); biased exponent 0 means a denormal (or zero after flush).</summary>
    public static void Round(bool negative, int exponent, UInt128 sig, Format format, ref RoundingContext ctx,
        out int biased, out UInt128 result)
    {
        int lz = (int)UInt128.LeadingZeroCount(sig);
        sig <<= lz;
        exponent -= lz;
        biased = exponent + format.Bias;
        int dropped = 128 - ctx.Precision;
        UInt128 lowMask = (UInt128.One << dropped) - 1;
        bool tiny = false;
        if (biased <= 0 && ctx.UnderflowUnmasked && format.WrapAdjust != 0)
        {
            ctx.Raised |= X87Exceptions.Underflow;
            biased += format.WrapAdjust;
        }
        if (biased <= 0)
        {
            // Tininess is detected after rounding, as SoftFloat models x86: a value just below 2^emin that
            // rounds up to it with an unbounded exponent is not tiny.
            tiny = !(biased == 0 && RoundsToCarry(negative, sig, lowMask, ctx.Mode));
            sig = ShiftRightJam(sig, 1 - biased);
            biased = 0;
        }
        UInt128 rest = sig & lowMask;
        if (rest != 0)
        {
            ctx.Raised |= X87Exceptions.Precision;
            if (tiny)
            {
                ctx.Raised |= X87Exceptions.Underflow;
            }
            bool up = ctx.Mode switch
            {
                RoundingMode.Nearest => rest > ((lowMask + 1) >> 1)
                    || (rest == ((lowMask + 1) >> 1) && ((sig >> dropped) & 1) != 0),
                RoundingMode.Up => !negative,
                RoundingMode.Down => negative,
                _ => false,
            };
            sig &= ~lowMask;
            if (up)
            {
                ctx.RoundedUp = true;
                sig += lowMask + 1;
                if (sig == 0)
                {
                    sig = Top;
                    biased++;
                }
                else if (biased == 0 && sig >= Top)
                {
                    biased = 1;
                }
            }
        }
        else if (tiny && ctx.UnderflowUnmasked)
        {
            ctx.Raised |= X87Exceptions.Underflow;
        }

        if (biased >= format.MaxBiased)
        {
            ctx.Raised |= X87Exceptions.Overflow;
            if (ctx.OverflowUnmasked)
            {
                // Register destination: deliver the result with the exponent scaled down; memory
                // destinations are not written at all (the caller sees Overflow unmasked). A result too
                // large even for the scaled range (only FSCALE can produce one) becomes an infinity.
                biased -= format.WrapAdjust;
                if (biased >= format.MaxBiased)
                {
                    biased = format.MaxBiased;
                    sig = Top;
                }
            }
            else
            {
                ctx.Raised |= X87Exceptions.Precision;
                bool toInfinity = ctx.Mode == RoundingMode.Nearest
                    || (ctx.Mode == RoundingMode.Up && !negative)
                    || (ctx.Mode == RoundingMode.Down && negative);
                if (toInfinity)
                {
                    biased = format.MaxBiased;
                    sig = Top;
                    ctx.RoundedUp = true;
                }
                else
                {
                    biased = format.MaxBiased - 1;
                    sig = ~lowMask;
                    ctx.RoundedUp = false;
                }
            }
        }
        result = sig;
    }

    private static bool RoundsToCarry(bool negative, UInt128 sig, UInt128 lowMask, RoundingMode mode)
    {
        if ((sig | lowMask) != UInt128.MaxValue)
        {
            return false;
        }
        UInt128 rest = sig & lowMask;
        return rest != 0 && mode switch
        {
            RoundingMode.Nearest => rest >= ((lowMask + 1) >> 1),
            RoundingMode.Up => !negative,
            RoundingMode.Down => negative,
            _ => false,
        };
    }

    public static UInt128 ShiftRightJam(UInt128 value, int count)
    {
        if (count <= 0)
        {
            return value;
        }
        if (count >= 128)
        {
            return value != 0 ? UInt128.One : UInt128.Zero;
        }
        UInt128 shifted = value >> count;
        return (value & ((UInt128.One << count) - 1)) != 0 ? shifted | 1 : shifted;
    }

    /// <summary>Rounds value = sig × 2^(exponent − 127) to an extended register value at the context's precision.</summary>
    public static Float80 RoundToExtended(bool negative, int exponent, UInt128 sig, ref RoundingContext ctx)
    {
        if (sig == 0)
        {
            return Float80.Zero(negative);
        }
        Round(negative, exponent, sig, Extended, ref ctx, out int biased, out UInt128 result);
        return new Float80((ulong)(result >> 64), (ushort)((biased & 0x7FFF) | (negative ? 0x8000 : 0)));
    }

    /// <summary>Re-rounds a finite value (e.g. a host double result or a scaled operand) to the context's precision.</summary>
    public static Float80 RoundValue(Float80 value, int exponentAdjust, ref RoundingContext ctx)
    {
        if (value.IsZero || value.BiasedExponent == Float80.MaxBiasedExponent)
        {
            return value;
        }
        value.Unpack(out bool negative, out int exponent, out ulong significand);
        return RoundToExtended(negative, exponent + exponentAdjust + 1, (UInt128)significand << 63, ref ctx);
    }

    /// <summary>The masked response for NaN or unsupported operands of a two-operand operation
    /// (SDM vol. 1 Table 4-7). Returns false when both operands are ordinary numbers.</summary>
    public static bool TryPropagateNaN(Float80 a, Float80 b, ref RoundingContext ctx, out Float80 result)
    {
        if (a.IsUnsupported || b.IsUnsupported)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            result = Float80.Indefinite;
            return true;
        }
        bool aNaN = a.IsNaN, bNaN = b.IsNaN;
        if (!aNaN && !bNaN)
        {
            result = default;
            return false;
        }
        if (a.IsSignalingNaN || b.IsSignalingNaN)
        {
            ctx.Raised |= X87Exceptions.Invalid;
        }
        if (aNaN && bNaN)
        {
            ulong aMagnitude = a.Significand & ~Float80.QuietBit, bMagnitude = b.Significand & ~Float80.QuietBit;
            result = aMagnitude >= bMagnitude ? a : b;
        }
        else
        {
            result = aNaN ? a : b;
        }
        result = result.Quieted();
        return true;
    }

    public static bool TryPropagateNaN(Float80 a, ref RoundingContext ctx, out Float80 result)
    {
        if (a.IsUnsupported)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            result = Float80.Indefinite;
            return true;
        }
        if (a.IsNaN)
        {
            if (a.IsSignalingNaN)
            {
                ctx.Raised |= X87Exceptions.Invalid;
            }
            result = a.Quieted();
            return true;
        }
        result = default;
        return false;
    }

    private static void NoteDenormals(Float80 a, Float80 b, ref RoundingContext ctx)
    {
        if (a.IsDenormal || b.IsDenormal)
        {
            ctx.Raised |= X87Exceptions.Denormal;
        }
    }

    public static Float80 Add(Float80 a, Float80 b, ref RoundingContext ctx)
    {
        if (TryPropagateNaN(a, b, ref ctx, out Float80 nan))
        {
            return nan;
        }
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsInfinity && b.IsInfinity && a.IsNegative != b.IsNegative)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            NoteDenormals(a, b, ref ctx);
            return a.IsInfinity ? a : b;
        }
        NoteDenormals(a, b, ref ctx);
        if (a.IsZero && b.IsZero)
        {
            // IEEE 754 §6.3: the sum of opposite zeros is +0, except −0 when rounding down.
            return a.IsNegative == b.IsNegative ? a : Float80.Zero(ctx.Mode == RoundingMode.Down);
        }
        if (a.IsZero || b.IsZero)
        {
            return RoundValue(a.IsZero ? b : a, 0, ref ctx);
        }
        a.Unpack(out bool aNegative, out int aExponent, out ulong aSig);
        b.Unpack(out bool bNegative, out int bExponent, out ulong bSig);
        if (aExponent < bExponent)
        {
            (aNegative, aExponent, aSig, bNegative, bExponent, bSig) = (bNegative, bExponent, bSig, aNegative, aExponent, aSig);
        }
        // Leading bit at 126 leaves room for the carry; 63 guard bits plus a sticky bit round exactly.
        UInt128 big = (UInt128)aSig << 63;
        UInt128 small = ShiftRightJam((UInt128)bSig << 63, aExponent - bExponent);
        if (aNegative == bNegative)
        {
            return RoundToExtended(aNegative, aExponent + 1, big + small, ref ctx);
        }
        if (big == small)
        {
            return Float80.Zero(ctx.Mode == RoundingMode.Down);
        }
        return big > small
            ? RoundToExtended(aNegative, aExponent + 1, big - small, ref ctx)
            : RoundToExtended(bNegative, aExponent + 1, small - big, ref ctx);
    }

    public static Float80 Subtract(Float80 a, Float80 b, ref RoundingContext ctx)
    {
        // NaNs propagate unchanged, so the operand is only negated once it is known to be a number.
        return TryPropagateNaN(a, b, ref ctx, out Float80 nan) ? nan : Add(a, b.Negate(), ref ctx);
    }

    public static Float80 Multiply(Float80 a, Float80 b, ref RoundingContext ctx)
    {
        if (TryPropagateNaN(a, b, ref ctx, out Float80 nan))
        {
            return nan;
        }
        bool negative = a.IsNegative != b.IsNegative;
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsZero || b.IsZero)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            NoteDenormals(a, b, ref ctx);
            return Float80.Infinity(negative);
        }
        NoteDenormals(a, b, ref ctx);
        if (a.IsZero || b.IsZero)
        {
            return Float80.Zero(negative);
        }
        a.Unpack(out _, out int aExponent, out ulong aSig);
        b.Unpack(out _, out int bExponent, out ulong bSig);
        return RoundToExtended(negative, aExponent + bExponent + 1, (UInt128)aSig * bSig, ref ctx);
    }

    public static Float80 Divide(Float80 a, Float80 b, ref RoundingContext ctx)
    {
        if (TryPropagateNaN(a, b, ref ctx, out Float80 nan))
        {
            return nan;
        }
        bool negative = a.IsNegative != b.IsNegative;
        if (a.IsInfinity)
        {
            if (b.IsInfinity)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            NoteDenormals(a, b, ref ctx);
            return Float80.Infinity(negative);
        }
        if (b.IsInfinity)
        {
            NoteDenormals(a, b, ref ctx);
            return Float80.Zero(negative);
        }
        if (b.IsZero)
        {
            if (a.IsZero)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                return Float80.Indefinite;
            }
            NoteDenormals(a, b, ref ctx);
            ctx.Raised |= X87Exceptions.ZeroDivide;
            return Float80.Infinity(negative);
        }
        NoteDenormals(a, b, ref ctx);
        if (a.IsZero)
        {
            return Float80.Zero(negative);
        }
        a.Unpack(out _, out int aExponent, out ulong aSig);
        b.Unpack(out _, out int bExponent, out ulong bSig);
        // Two 64-bit quotient digits: (aSig << 63) / bSig has 63–64 bits, the second digit 64 more.
        UInt128 numerator = (UInt128)aSig << 63;
        UInt128 high = numerator / bSig;
        UInt128 remainder = numerator - high * bSig;
        UInt128 next = remainder << 64;
        UInt128 low = next / bSig;
        bool sticky = next - low * bSig != 0;
        UInt128 quotient = (high << 64) | low | (sticky ? UInt128.One : UInt128.Zero);
        return RoundToExtended(negative, aExponent - bExponent, quotient, ref ctx);
    }

    public static Float80 SquareRoot(Float80 a, ref RoundingContext ctx)
    {
        if (TryPropagateNaN(a, ref ctx, out Float80 nan))
        {
            return nan;
        }
        if (a.IsZero)
        {
            return a;
        }
        if (a.IsNegative)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            return Float80.Indefinite;
        }
        if (a.IsInfinity)
        {
            return a;
        }
        NoteDenormals(a, a, ref ctx);
        a.Unpack(out _, out int exponent, out ulong sig);
        int scale = exponent - 63;
        UInt128 x = sig;
        if ((scale & 1) != 0)
        {
            x <<= 1;
            scale--;
        }
        // Digit-by-digit square root of x × 4^34: 67 result bits, remainder decides the sticky bit.
        UInt128 root = 0, rem = 0;
        for (int i = 0; i < 67; i++)
        {
            int pair = i < 33 ? (int)((x >> (64 - 2 * i)) & 3) : 0;
            rem = (rem << 2) | (uint)pair;
            UInt128 trial = (root << 2) | 1;
            root <<= 1;
            if (rem >= trial)
            {
                rem -= trial;
                root |= 1;
            }
        }
        if (rem != 0)
        {
            root |= 1;
        }
        return RoundToExtended(false, scale / 2 + 93, root, ref ctx);
    }

    /// <summary>Orders two operands: -1 less, 0 equal, 1 greater, 2 unordered (a NaN or unsupported operand).</summary>
    public static int Compare(Float80 a, Float80 b)
    {
        if (a.IsNaN || b.IsNaN || a.IsUnsupported || b.IsUnsupported)
        {
            return 2;
        }
        if (a.IsZero && b.IsZero)
        {
            return 0;
        }
        if (a.IsNegative != b.IsNegative)
        {
            return a.IsNegative ? -1 : 1;
        }
        int magnitude = CompareMagnitude(a, b);
        return a.IsNegative ? -magnitude : magnitude;
    }

    private static int CompareMagnitude(Float80 a, Float80 b)
    {
        if (a.IsZero)
        {
            return b.IsZero ? 0 : -1;
        }
        if (b.IsZero)
        {
            return 1;
        }
        a.Unpack(out _, out int aExponent, out ulong aSig);
        b.Unpack(out _, out int bExponent, out ulong bSig);
        if (a.IsInfinity || b.IsInfinity)
        {
            return a.IsInfinity == b.IsInfinity ? 0 : a.IsInfinity ? 1 : -1;
        }
        if (aExponent != bExponent)
        {
            return aExponent > bExponent ? 1 : -1;
        }
        return aSig.CompareTo(bSig);
    }

    /// <summary>Rounds a finite value with unbiased exponent ≤ 63 to an integer magnitude per <paramref name="mode"/>.</summary>
    public static ulong RoundToIntegerMagnitude(bool negative, int exponent, ulong sig, RoundingMode mode, out bool inexact, out bool roundedUp)
    {
        ulong integer, rest, half;
        if (exponent < -1)
        {
            integer = 0;
            rest = 1;
            half = 2;
        }
        else
        {
            int shift = 63 - exponent;
            if (shift == 64)
            {
                integer = 0;
                rest = sig;
                half = Float80.IntegerBit;
            }
            else if (shift == 0)
            {
                integer = sig;
                rest = 0;
                half = 0;
            }
            else
            {
                integer = sig >> shift;
                rest = sig & ((1UL << shift) - 1);
                half = 1UL << (shift - 1);
            }
        }
        inexact = rest != 0;
        roundedUp = inexact && mode switch
        {
            RoundingMode.Nearest => rest > half || (rest == half && (integer & 1) != 0),
            RoundingMode.Up => !negative,
            RoundingMode.Down => negative,
            _ => false,
        };
        return roundedUp ? integer + 1 : integer;
    }

    /// <summary>Exact conversion of an integer magnitude (FILD, FBLD, FRNDINT results).</summary>
    public static Float80 FromInteger(bool negative, ulong magnitude)
    {
        if (magnitude == 0)
        {
            return Float80.Zero(negative);
        }
        int lz = System.Numerics.BitOperations.LeadingZeroCount(magnitude);
        return new Float80(magnitude << lz, (ushort)((Float80.Bias + 63 - lz) | (negative ? 0x8000 : 0)));
    }

    public static Float80 FromInt64(long value) =>
        value < 0 ? FromInteger(true, (ulong)-(value + 1) + 1) : FromInteger(false, (ulong)value);
}
