namespace MiniVM.Cpu.Fpu;

/// <summary>
/// A 128-bit-significand binary float used only inside the transcendental instructions: with 64 bits more
/// than the extended format, series evaluations lose nothing visible and the final result is rounded once,
/// per RC, into an extended register. Operations truncate (they are approximations anyway); value =
/// Significand × 2^(Exponent − 127), Significand normalized so bit 127 is set, or zero.
/// </summary>
internal readonly struct WideFloat
{
    public readonly bool Negative;
    public readonly int Exponent;
    public readonly UInt128 Significand;

    public WideFloat(bool negative, int exponent, UInt128 significand)
    {
        if (significand == 0)
        {
            Negative = false;
            Exponent = int.MinValue / 4;
            Significand = 0;
            return;
        }
        int lz = (int)UInt128.LeadingZeroCount(significand);
        Negative = negative;
        Exponent = exponent - lz;
        Significand = significand << lz;
    }

    public static readonly WideFloat Zero = new(false, 0, 0);
    public static readonly WideFloat One = new(false, 0, UInt128.One << 127);
    public static readonly WideFloat Ln2 = Constant(0xB17217F7D1CF79AB, 0xC9E3B39803F2F6AF, -1);
    public static readonly WideFloat Log2E = Constant(0xB8AA3B295C17F0BB, 0xBE87FED0691D3E89, 0);
    public static readonly WideFloat HalfPi = Constant(0xC90FDAA22168C234, 0xC4C6628B80DC1CD1, 0);
    public static readonly WideFloat Pi = Constant(0xC90FDAA22168C234, 0xC4C6628B80DC1CD1, 1);
    public static readonly WideFloat QuarterPi = Constant(0xC90FDAA22168C234, 0xC4C6628B80DC1CD1, -1);
    public static readonly WideFloat TwoOverPi = Constant(0xA2F9836E4E441529, 0xFC2757D1F534DDC0, -1);
    public static readonly WideFloat Sqrt2 = Constant(0xB504F333F9DE6484, 0x597D89B3754ABE9F, 0);

    /// <summary>
    /// π/2 as the x87 knows it for FSIN/FCOS/FSINCOS/FPTAN argument reduction: 66 significant bits (Intel and AMD
    /// alike, SDM vol. 1 §8.3.10), which is why fsin(fldpi) gives −2^−64 rather than −(π_ext − π). Split in two
    /// pieces so that k × piece is exact in 128 bits for every k below 2^63.
    /// </summary>
    public static readonly WideFloat HalfPiPart1 = Constant(0xC90FDAA22168C234, 0, 0);
    public static readonly WideFloat HalfPiPart2 = Constant(0xC000000000000000, 0, -64);

    private static WideFloat Constant(ulong high, ulong low, int exponent) => new(false, exponent, ((UInt128)high << 64) | low);

    public bool IsZero => Significand == 0;

    public static WideFloat FromFloat80(Float80 value)
    {
        if (value.IsZero)
        {
            return Zero;
        }
        value.Unpack(out bool negative, out int exponent, out ulong significand);
        return new WideFloat(negative, exponent, (UInt128)significand << 64);
    }

    public static WideFloat FromInteger(long value) =>
        value < 0 ? new WideFloat(true, 127, (ulong)-(value + 1) + 1) : new WideFloat(false, 127, (ulong)value);

    /// <summary>Rounds once into an extended register value per the context (RC, flags, over/underflow).</summary>
    public Float80 Round(ref RoundingContext ctx) =>
        IsZero ? Float80.PositiveZero : ExtendedArithmetic.RoundToExtended(Negative, Exponent, Significand, ref ctx);

    public WideFloat Negate() => IsZero ? this : new WideFloat(!Negative, Exponent, Significand);
    public WideFloat Abs() => new(false, Exponent, Significand);
    public WideFloat Scale(int power) => IsZero ? this : new WideFloat(Negative, Exponent + power, Significand);

    public static WideFloat operator -(WideFloat a) => a.Negate();
    public static WideFloat operator -(WideFloat a, WideFloat b) => a + b.Negate();

    public static WideFloat operator +(WideFloat a, WideFloat b)
    {
        if (a.IsZero)
        {
            return b;
        }
        if (b.IsZero)
        {
            return a;
        }
        if (a.Exponent < b.Exponent || (a.Exponent == b.Exponent && a.Significand < b.Significand))
        {
            (a, b) = (b, a);
        }
        // One bit of headroom for the carry. Bits shifted out of the smaller operand are jammed into a sticky
        // lowest bit, so a term far below the last place (sin x − x³/6 for tiny x) still steers directed rounding.
        UInt128 big = a.Significand >> 1;
        UInt128 small = ExtendedArithmetic.ShiftRightJam(b.Significand >> 1, a.Exponent - b.Exponent);
        return a.Negative == b.Negative
            ? new WideFloat(a.Negative, a.Exponent + 1, big + small)
            : new WideFloat(a.Negative, a.Exponent + 1, big - small);
    }

    public static WideFloat operator *(WideFloat a, WideFloat b)
    {
        if (a.IsZero || b.IsZero)
        {
            return Zero;
        }
        ulong aHigh = (ulong)(a.Significand >> 64), aLow = (ulong)a.Significand;
        ulong bHigh = (ulong)(b.Significand >> 64), bLow = (ulong)b.Significand;
        UInt128 highHigh = (UInt128)aHigh * bHigh;
        UInt128 highLow = (UInt128)aHigh * bLow;
        UInt128 lowHigh = (UInt128)aLow * bHigh;
        UInt128 lowLow = (UInt128)aLow * bLow;
        UInt128 middle = (UInt128)(ulong)highLow + (ulong)lowHigh + (ulong)(lowLow >> 64);
        UInt128 top = highHigh + (highLow >> 64) + (lowHigh >> 64) + (middle >> 64);
        bool sticky = (ulong)middle != 0 || (ulong)lowLow != 0;
        return new WideFloat(a.Negative != b.Negative, a.Exponent + b.Exponent + 1, sticky ? top | 1 : top);
    }

    public static WideFloat operator /(WideFloat a, WideFloat b)
    {
        if (a.IsZero)
        {
            return Zero;
        }
        if (b.IsZero)
        {
            // Callers exclude zero divisors; should one slip through, an out-of-range value rounds to ±∞.
            return new WideFloat(a.Negative, int.MaxValue / 4, a.Significand);
        }
        // Restoring division, one quotient bit per step: quotient = floor(a/b × 2^127).
        UInt128 divisor = b.Significand, remainder = a.Significand, quotient = 0;
        bool carry = false;
        for (int i = 0; i < 128; i++)
        {
            quotient <<= 1;
            if (carry || remainder >= divisor)
            {
                remainder -= divisor;
                quotient |= 1;
            }
            carry = (remainder >> 127) != 0;
            remainder <<= 1;
        }
        // A non-zero remainder becomes a sticky lowest bit (see operator +).
        return new WideFloat(a.Negative != b.Negative, a.Exponent - b.Exponent, remainder != 0 || carry ? quotient | 1 : quotient);
    }

    /// <summary>Division by a small positive integer (series coefficients): one hardware-sized division that
    /// keeps at least 113 significant bits, instead of the bit-by-bit general division.</summary>
    public static WideFloat operator /(WideFloat a, int divisor) =>
        divisor > 0 ? new WideFloat(a.Negative, a.Exponent, DivideJam(a.Significand, (uint)divisor)) : a / FromInteger(divisor);

    private static UInt128 DivideJam(UInt128 dividend, uint divisor)
    {
        UInt128 quotient = dividend / divisor;
        return quotient * divisor != dividend ? quotient | 1 : quotient;
    }

    /// <summary>|a| compared with |b|.</summary>
    public static int CompareMagnitude(WideFloat a, WideFloat b)
    {
        if (a.IsZero || b.IsZero)
        {
            return a.IsZero == b.IsZero ? 0 : a.IsZero ? -1 : 1;
        }
        return a.Exponent != b.Exponent ? a.Exponent.CompareTo(b.Exponent) : a.Significand.CompareTo(b.Significand);
    }

    /// <summary>Nearest integer (ties away from zero), for |value| below 2^63.</summary>
    public long RoundToInteger()
    {
        if (IsZero || Exponent < -1)
        {
            return 0;
        }
        int shift = 127 - Exponent;
        long magnitude = (long)(((Significand >> (shift - 1)) + 1) >> 1);
        return Negative ? -magnitude : magnitude;
    }

    /// <summary>True when this term no longer changes a sum of magnitude <paramref name="sum"/> at 128-bit precision.</summary>
    public bool IsNegligibleAgainst(WideFloat sum) => IsZero || (!sum.IsZero && Exponent < sum.Exponent - 130);
}
