using System.Buffers.Binary;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// An 80-bit extended-precision value exactly as the x87 stores it: a 64-bit significand with an explicit
/// integer bit (bit 63) and a sign bit over a 15-bit exponent biased by 16383 (Intel SDM vol. 1 §4.2.2).
/// </summary>
public readonly record struct Float80(ulong Significand, ushort SignExponent)
{
    public const int Bias = 16383;
    public const int MaxBiasedExponent = 0x7FFF;
    public const ulong IntegerBit = 0x8000_0000_0000_0000;
    public const ulong QuietBit = 0x4000_0000_0000_0000;

    public static readonly Float80 PositiveZero = new(0, 0);
    public static readonly Float80 NegativeZero = new(0, 0x8000);
    public static readonly Float80 One = new(IntegerBit, Bias);
    public static readonly Float80 PositiveInfinity = new(IntegerBit, 0x7FFF);
    public static readonly Float80 NegativeInfinity = new(IntegerBit, 0xFFFF);

    /// <summary>The QNaN floating-point indefinite, the masked response to an invalid operation (SDM vol. 1 §4.8.3.7).</summary>
    public static readonly Float80 Indefinite = new(0xC000_0000_0000_0000, 0xFFFF);

    public bool IsNegative => (SignExponent & 0x8000) != 0;
    public int BiasedExponent => SignExponent & 0x7FFF;
    public bool IsZero => BiasedExponent == 0 && Significand == 0;

    /// <summary>Denormals and pseudo-denormals: exponent field 0 with a non-zero significand.</summary>
    public bool IsDenormal => BiasedExponent == 0 && Significand != 0;
    public bool IsInfinity => BiasedExponent == MaxBiasedExponent && Significand == IntegerBit;
    public bool IsNaN => BiasedExponent == MaxBiasedExponent && (Significand & IntegerBit) != 0 && (Significand & ~IntegerBit) != 0;
    public bool IsSignalingNaN => IsNaN && (Significand & QuietBit) == 0;

    /// <summary>Unnormals, pseudo-NaNs and pseudo-infinities: a non-zero exponent without the integer bit.
    /// The 387 and later reject them as operands with an invalid-operation exception (SDM vol. 1 §8.2.2).</summary>
    public bool IsUnsupported => BiasedExponent != 0 && (Significand & IntegerBit) == 0;

    /// <summary>Normal finite non-zero value (integer bit set, exponent in range).</summary>
    public bool IsNormal => BiasedExponent is > 0 and < MaxBiasedExponent && (Significand & IntegerBit) != 0;

    public Float80 Negate() => new(Significand, (ushort)(SignExponent ^ 0x8000));
    public Float80 Abs() => new(Significand, (ushort)(SignExponent & 0x7FFF));
    public Float80 WithSign(bool negative) => new(Significand, (ushort)((SignExponent & 0x7FFF) | (negative ? 0x8000 : 0)));
    public Float80 Quieted() => new(Significand | QuietBit, SignExponent);

    public static Float80 Zero(bool negative) => negative ? NegativeZero : PositiveZero;
    public static Float80 Infinity(bool negative) => negative ? NegativeInfinity : PositiveInfinity;

    /// <summary>Tag per SDM vol. 1 §8.1.7: 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unsupported).</summary>
    public int Tag => IsZero ? 1 : IsNormal ? 0 : 2;

    /// <summary>Splits a finite non-zero value into sign, unbiased exponent and a significand normalized to
    /// bit 63, so that value = significand × 2^(exponent − 63). Denormals are normalized here.</summary>
    public void Unpack(out bool negative, out int exponent, out ulong significand)
    {
        negative = IsNegative;
        int biased = BiasedExponent;
        significand = Significand;
        if (biased == 0)
        {
            // Denormals (and pseudo-denormals) use the exponent of the smallest normal, 1 − bias.
            int shift = System.Numerics.BitOperations.LeadingZeroCount(significand);
            significand <<= shift;
            exponent = 1 - Bias - shift;
        }
        else
        {
            exponent = biased - Bias;
        }
    }

    public static Float80 Read(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(bytes), BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]));

    public void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Significand);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[8..], SignExponent);
    }

    public override string ToString() => $"{SignExponent:X4}:{Significand:X16}";
}
