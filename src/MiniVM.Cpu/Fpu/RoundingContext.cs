namespace MiniVM.Cpu.Fpu;

/// <summary>
/// Everything one rounding step needs and reports: the significand precision (PC or the memory format),
/// the rounding mode, which of overflow/underflow are unmasked, and the flags raised plus whether the
/// magnitude was rounded up (that becomes C1, SDM vol. 1 §8.1.3.1).
/// </summary>
internal struct RoundingContext(int precision, RoundingMode mode, bool overflowUnmasked, bool underflowUnmasked)
{
    public int Precision = precision;
    public readonly RoundingMode Mode = mode;
    public readonly bool OverflowUnmasked = overflowUnmasked;
    public readonly bool UnderflowUnmasked = underflowUnmasked;
    public X87Exceptions Raised;
    public bool RoundedUp;
}
