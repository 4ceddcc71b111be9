namespace MiniVM.Cpu.Fpu;

/// <summary>
/// Conversions between extended registers and the m32fp/m64fp memory formats (SDM vol. 1 §4.2.2).
/// Loading is always exact; storing rounds per RC with the memory format's own exponent range.
/// </summary>
internal static class RealFormats
{
    public static Float80 FromSingle(uint bits, ref X87Exceptions raised) => FromBinary(bits, 23, 0xFF, 127, ref raised);

    public static Float80 FromDouble(ulong bits, ref X87Exceptions raised) => FromBinary(bits, 52, 0x7FF, 1023, ref raised);

    private static Float80 FromBinary(ulong bits, int fractionBits, int maxExponent, int bias, ref X87Exceptions raised)
    {
        bool negative = (bits >> (fractionBits + (maxExponent == 0xFF ? 8 : 11))) != 0;
        int exponent = (int)(bits >> fractionBits) & maxExponent;
        ulong fraction = bits & ((1UL << fractionBits) - 1);
        ushort sign = (ushort)(negative ? 0x8000 : 0);
        ulong aligned = fraction << (63 - fractionBits);
        if (exponent == maxExponent)
        {
            if (fraction == 0)
            {
                return Float80.Infinity(negative);
            }
            if ((aligned & Float80.QuietBit) == 0)
            {
                // Loading an SNaN from m32/m64 is an invalid operation; the masked response quiets it.
                raised |= X87Exceptions.Invalid;
            }
            return new Float80(Float80.IntegerBit | Float80.QuietBit | aligned, (ushort)(sign | 0x7FFF));
        }
        if (exponent == 0)
        {
            if (fraction == 0)
            {
                return Float80.Zero(negative);
            }
            raised |= X87Exceptions.Denormal;
            int lz = System.Numerics.BitOperations.LeadingZeroCount(aligned);
            return new Float80(aligned << lz, (ushort)(sign | (Float80.Bias + 1 - bias - lz)));
        }
        return new Float80(Float80.IntegerBit | aligned, (ushort)(sign | (exponent - bias + Float80.Bias)));
    }

    public static uint ToSingle(Float80 value, ref RoundingContext ctx) =>
        (uint)ToBinary(value, 24, ExtendedArithmetic.Single, 23, 8, ref ctx);

    public static ulong ToDouble(Float80 value, ref RoundingContext ctx) =>
        ToBinary(value, 53, ExtendedArithmetic.Double, 52, 11, ref ctx);

    private static ulong ToBinary(Float80 value, int precision, ExtendedArithmetic.Format format, int fractionBits, int exponentBits,
        ref RoundingContext ctx)
    {
        ulong sign = value.IsNegative ? 1UL << (fractionBits + exponentBits) : 0;
        ulong allOnesExponent = (ulong)format.MaxBiased << fractionBits;
        if (value.IsUnsupported)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            return (1UL << (fractionBits + exponentBits)) | allOnesExponent | (1UL << (fractionBits - 1));
        }
        if (value.IsNaN)
        {
            if (value.IsSignalingNaN)
            {
                ctx.Raised |= X87Exceptions.Invalid;
            }
            // The payload is truncated; the quiet bit is forced (SDM vol. 1 §4.8.3.5).
            ulong payload = (value.Significand & ~Float80.IntegerBit) >> (63 - fractionBits);
            return sign | allOnesExponent | payload | (1UL << (fractionBits - 1));
        }
        if (value.IsInfinity)
        {
            return sign | allOnesExponent;
        }
        if (value.IsZero)
        {
            return sign;
        }
        // No denormal-operand exception here: FST/FSTP to m32/m64 do not raise #D (SDM vol. 2 FST), an extended
        // denormal simply underflows.
        ctx.Precision = precision;
        value.Unpack(out bool negative, out int exponent, out ulong sig);
        ExtendedArithmetic.Round(negative, exponent + 1, (UInt128)sig << 63, format, ref ctx, out int biased, out UInt128 rounded);
        ulong fraction = (ulong)(rounded >> (127 - fractionBits)) & ((1UL << fractionBits) - 1);
        return sign | ((ulong)biased << fractionBits) | fraction;
    }
}
