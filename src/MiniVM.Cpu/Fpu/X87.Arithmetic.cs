using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

public sealed partial class X87
{
    private static Float80 Operate(Mnemonic mnemonic, Float80 destination, Float80 source, ref RoundingContext ctx) => mnemonic switch
    {
        Mnemonic.Fadd or Mnemonic.Faddp or Mnemonic.Fiadd => ExtendedArithmetic.Add(destination, source, ref ctx),
        Mnemonic.Fmul or Mnemonic.Fmulp or Mnemonic.Fimul => ExtendedArithmetic.Multiply(destination, source, ref ctx),
        Mnemonic.Fsub or Mnemonic.Fsubp or Mnemonic.Fisub => ExtendedArithmetic.Subtract(destination, source, ref ctx),
        Mnemonic.Fsubr or Mnemonic.Fsubrp or Mnemonic.Fisubr => ExtendedArithmetic.Subtract(source, destination, ref ctx),
        Mnemonic.Fdiv or Mnemonic.Fdivp or Mnemonic.Fidiv => ExtendedArithmetic.Divide(destination, source, ref ctx),
        Mnemonic.Fdivr or Mnemonic.Fdivrp or Mnemonic.Fidivr => ExtendedArithmetic.Divide(source, destination, ref ctx),
        _ => throw new ArgumentException($"{mnemonic} is not an x87 arithmetic mnemonic", nameof(mnemonic)),
    };

    private void ArithmeticOnSt0(Mnemonic mnemonic, Float80 source, X87Exceptions raised)
    {
        if (IsEmpty(0))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        RoundingContext ctx = ArithmeticContext();
        ctx.Raised = raised;
        Float80 result = Operate(mnemonic, St(0), source, ref ctx);
        Commit(0, result, ctx, pop: false);
    }

    private void ArithmeticOnRegisters(Mnemonic mnemonic, int destination, int source, bool pop)
    {
        if (IsEmpty(destination) || IsEmpty(source))
        {
            StackUnderflow(destination, pop);
            return;
        }
        RoundingContext ctx = ArithmeticContext();
        Float80 result = Operate(mnemonic, St(destination), St(source), ref ctx);
        Commit(destination, result, ctx, pop);
    }

    private void CompareSt0(Float80 source, X87Exceptions raised, CompareKind kind, int pops)
    {
        if (IsEmpty(0))
        {
            UnorderedUnderflow(kind, pops);
            return;
        }
        Compare(St(0), source, raised, kind, pops);
    }

    private void CompareRegisters(int source, CompareKind kind, int pops)
    {
        if (IsEmpty(0) || IsEmpty(source))
        {
            UnorderedUnderflow(kind, pops);
            return;
        }
        Compare(St(0), St(source), X87Exceptions.None, kind, pops);
    }

    private void UnorderedUnderflow(CompareKind kind, int pops)
    {
        SetC1(false);
        if (InvalidMasked)
        {
            WriteComparison(2, kind);
            for (int i = 0; i < pops; i++)
            {
                Pop();
            }
        }
        Signal(X87Exceptions.Invalid | X87Exceptions.StackFault);
    }

    private void Compare(Float80 a, Float80 b, X87Exceptions raised, CompareKind kind, int pops)
    {
        int order = ExtendedArithmetic.Compare(a, b);
        bool quietNaNsAllowed = kind is CompareKind.Unordered or CompareKind.UnorderedEflags;
        if (a.IsUnsupported || b.IsUnsupported || a.IsSignalingNaN || b.IsSignalingNaN
            || (!quietNaNsAllowed && (a.IsNaN || b.IsNaN)))
        {
            raised |= X87Exceptions.Invalid;
        }
        else if (a.IsDenormal || b.IsDenormal)
        {
            raised |= X87Exceptions.Denormal;
        }
        if (SuppressesResult(raised))
        {
            Signal(raised);
            return;
        }
        SetC1(false);
        WriteComparison(order, kind);
        for (int i = 0; i < pops; i++)
        {
            Pop();
        }
        Signal(raised);
    }

    /// <summary>C3/C2/C0 (SDM vol. 2 FCOM Table 3-21) or ZF/PF/CF (FCOMI Table 3-23): 111 means unordered.</summary>
    private void WriteComparison(int order, CompareKind kind)
    {
        if (kind is CompareKind.OrderedEflags or CompareKind.UnorderedEflags)
        {
            uint flags = order switch { -1 => CarryFlag, 0 => ZeroFlag, 1 => 0u, _ => ZeroFlag | ParityFlag | CarryFlag };
            Eflags = (Eflags & ~(ZeroFlag | ParityFlag | CarryFlag | OverflowFlag | SignFlag | AuxiliaryFlag)) | flags;
        }
        else
        {
            ushort conditions = order switch { -1 => C0, 0 => C3, 1 => (ushort)0, _ => (ushort)(C3 | C2 | C0) };
            statusWord = (ushort)((statusWord & ~(C0 | C2 | C3)) | conditions);
        }
    }

    /// <summary>FXAM classes in C3,C2,C0 with the sign in C1 (SDM vol. 2 FXAM Table 3-44).</summary>
    private void Examine()
    {
        Float80 value = St(0);
        ushort sign = value.IsNegative ? C1 : (ushort)0;
        ushort classBits;
        if (IsEmpty(0))
        {
            classBits = C3 | C0;
        }
        else if (value.IsUnsupported)
        {
            classBits = 0;
        }
        else if (value.IsNaN)
        {
            classBits = C0;
        }
        else if (value.IsInfinity)
        {
            classBits = C2 | C0;
        }
        else if (value.IsZero)
        {
            classBits = C3;
        }
        else if (value.IsDenormal)
        {
            classBits = C3 | C2;
        }
        else
        {
            classBits = C2;
        }
        SetConditions((ushort)(classBits | sign));
    }

    private void Exchange(int other)
    {
        SetC1(false);
        if (IsEmpty(0) || IsEmpty(other))
        {
            // Masked stack underflow: empty operands are taken as the indefinite, then exchanged.
            if (InvalidMasked)
            {
                Float80 first = IsEmpty(0) ? Float80.Indefinite : St(0);
                Float80 second = IsEmpty(other) ? Float80.Indefinite : St(other);
                SetSt(0, second);
                SetSt(other, first);
            }
            Signal(X87Exceptions.Invalid | X87Exceptions.StackFault);
            return;
        }
        Float80 top0 = St(0);
        SetSt(0, St(other));
        SetSt(other, top0);
    }

    private void ConditionalMove(Mnemonic mnemonic, int source)
    {
        if (IsEmpty(0) || IsEmpty(source))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        bool carry = (Eflags & CarryFlag) != 0, zero = (Eflags & ZeroFlag) != 0, parity = (Eflags & ParityFlag) != 0;
        bool condition = mnemonic switch
        {
            Mnemonic.Fcmovb => carry,
            Mnemonic.Fcmove => zero,
            Mnemonic.Fcmovbe => carry || zero,
            Mnemonic.Fcmovu => parity,
            Mnemonic.Fcmovnb => !carry,
            Mnemonic.Fcmovne => !zero,
            Mnemonic.Fcmovnbe => !carry && !zero,
            _ => !parity,
        };
        SetC1(false);
        if (condition)
        {
            SetSt(0, St(source));
        }
    }

    /// <summary>FLDPI and friends: a 128-bit constant rounded to 64 bits per RC (SDM vol. 1 §8.3.8); no PE.</summary>
    private void PushConstant(ulong high, ulong low, int exponent)
    {
        RoundingContext ctx = new(64, Rounding, false, false);
        Float80 value = ExtendedArithmetic.RoundToExtended(false, exponent, ((UInt128)high << 64) | low, ref ctx);
        Push(value, X87Exceptions.None);
    }

    private void RoundToInteger()
    {
        if (IsEmpty(0))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        Float80 value = St(0);
        RoundingContext ctx = ExtendedContext();
        if (ExtendedArithmetic.TryPropagateNaN(value, ref ctx, out Float80 nan))
        {
            Commit(0, nan, ctx, pop: false);
            return;
        }
        if (value.IsZero || value.IsInfinity)
        {
            SetC1(false);
            return;
        }
        if (value.IsDenormal)
        {
            ctx.Raised |= X87Exceptions.Denormal;
        }
        value.Unpack(out bool negative, out int exponent, out ulong significand);
        Float80 result = value;
        if (exponent < 63)
        {
            ulong magnitude = ExtendedArithmetic.RoundToIntegerMagnitude(negative, exponent, significand, Rounding, out bool inexact, out bool up);
            if (inexact)
            {
                ctx.Raised |= X87Exceptions.Precision;
            }
            ctx.RoundedUp = up;
            result = ExtendedArithmetic.FromInteger(negative, magnitude);
        }
        Commit(0, result, ctx, pop: false);
    }

    /// <summary>FSCALE: ST(0) × 2^trunc(ST(1)), exact apart from overflow/underflow rounding.</summary>
    private void Scale()
    {
        if (IsEmpty(0) || IsEmpty(1))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        Float80 value = St(0), scale = St(1);
        RoundingContext ctx = ExtendedContext();
        Float80 result;
        if (ExtendedArithmetic.TryPropagateNaN(value, scale, ref ctx, out Float80 nan))
        {
            result = nan;
        }
        else if (scale.IsInfinity)
        {
            bool invalid = scale.IsNegative ? value.IsInfinity : value.IsZero;
            if (invalid)
            {
                ctx.Raised |= X87Exceptions.Invalid;
                result = Float80.Indefinite;
            }
            else
            {
                result = scale.IsNegative ? Float80.Zero(value.IsNegative) : Float80.Infinity(value.IsNegative);
            }
        }
        else
        {
            if (value.IsDenormal || scale.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            int steps = 0;
            if (!scale.IsZero)
            {
                scale.Unpack(out bool negative, out int exponent, out ulong significand);
                // Anything beyond ±2^17 already over/underflows every extended value.
                int magnitude = exponent < 0 ? 0 : exponent > 17 ? 1 << 18 : (int)(significand >> (63 - exponent));
                steps = negative ? -magnitude : magnitude;
            }
            result = ExtendedArithmetic.RoundValue(value, steps, ref ctx);
        }
        Commit(0, result, ctx, pop: false);
    }

    /// <summary>FXTRACT: ST(0) becomes the unbiased exponent, then the significand (exponent 0) is pushed.</summary>
    private void Extract()
    {
        if (IsEmpty(0))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        if (!IsEmpty(7))
        {
            Push(Float80.Indefinite, X87Exceptions.None);
            return;
        }
        Float80 value = St(0);
        RoundingContext ctx = ExtendedContext();
        Float80 exponentPart, significandPart;
        if (ExtendedArithmetic.TryPropagateNaN(value, ref ctx, out Float80 nan))
        {
            exponentPart = significandPart = nan;
        }
        else if (value.IsZero)
        {
            ctx.Raised |= X87Exceptions.ZeroDivide;
            exponentPart = Float80.NegativeInfinity;
            significandPart = value;
        }
        else if (value.IsInfinity)
        {
            exponentPart = Float80.PositiveInfinity;
            significandPart = value;
        }
        else
        {
            if (value.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            value.Unpack(out bool negative, out int exponent, out ulong significand);
            exponentPart = ExtendedArithmetic.FromInt64(exponent);
            significandPart = new Float80(significand, (ushort)(Float80.Bias | (negative ? 0x8000 : 0)));
        }
        if (SuppressesResult(ctx.Raised))
        {
            Signal(ctx.Raised);
            return;
        }
        SetSt(0, exponentPart);
        Push(significandPart, ctx.Raised);
    }

    /// <summary>
    /// FPREM (truncating quotient, 8087-compatible) and FPREM1 (IEEE round-to-nearest quotient). The remainder
    /// is exact. When the exponent difference D is 64 or more only a partial reduction by ST(1) × 2^(D−N) is
    /// done and C2 is set so the program loops (SDM vol. 2 FPREM, N = 32 + D mod 32); otherwise C2 = 0 and the
    /// low three quotient bits go to C0, C3, C1.
    /// </summary>
    private void PartialRemainder(bool nearest)
    {
        if (IsEmpty(0) || IsEmpty(1))
        {
            StackUnderflow(0, pop: false);
            return;
        }
        Float80 dividend = St(0), divisor = St(1);
        RoundingContext ctx = ExtendedContext();
        Float80 result;
        ushort conditions = 0;
        if (ExtendedArithmetic.TryPropagateNaN(dividend, divisor, ref ctx, out Float80 nan))
        {
            result = nan;
        }
        else if (dividend.IsInfinity || divisor.IsZero)
        {
            ctx.Raised |= X87Exceptions.Invalid;
            result = Float80.Indefinite;
        }
        else if (divisor.IsInfinity || dividend.IsZero)
        {
            if (dividend.IsDenormal || divisor.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            result = dividend;
        }
        else
        {
            if (dividend.IsDenormal || divisor.IsDenormal)
            {
                ctx.Raised |= X87Exceptions.Denormal;
            }
            result = FiniteRemainder(dividend, divisor, nearest, ref ctx, out conditions);
        }
        if (SuppressesResult(ctx.Raised))
        {
            Signal(ctx.Raised);
            return;
        }
        SetSt(0, result);
        SetConditions(conditions);
        Signal(ctx.Raised);
    }

    private static Float80 FiniteRemainder(Float80 dividend, Float80 divisor, bool nearest, ref RoundingContext ctx, out ushort conditions)
    {
        dividend.Unpack(out bool negative, out int dividendExponent, out ulong dividendSignificand);
        divisor.Unpack(out _, out int divisorExponent, out ulong divisorSignificand);
        int difference = dividendExponent - divisorExponent;
        if (difference >= 64)
        {
            // N = 32 + (D mod 32), between 32 and 63 as the SDM allows; this is the choice hardware makes.
            int n = 32 + (difference & 31);
            UInt128 partial = ((UInt128)dividendSignificand << n) % divisorSignificand;
            conditions = C2;
            return ExtendedArithmetic.RoundToExtended(negative, dividendExponent - n + 64, partial, ref ctx);
        }
        if (difference < -1 || (difference == -1 && !nearest))
        {
            conditions = 0;
            return dividend;
        }
        // remainder unit: 2^(divisorExponent − 63), or half of it when the dividend is below half the divisor.
        UInt128 numerator, divisorScaled;
        int unitExponent;
        if (difference >= 0)
        {
            numerator = (UInt128)dividendSignificand << difference;
            divisorScaled = divisorSignificand;
            unitExponent = divisorExponent + 64;
        }
        else
        {
            numerator = dividendSignificand;
            divisorScaled = (UInt128)divisorSignificand << 1;
            unitExponent = divisorExponent + 63;
        }
        UInt128 quotient = numerator / divisorScaled;
        UInt128 remainder = numerator - quotient * divisorScaled;
        bool resultNegative = negative;
        if (nearest)
        {
            UInt128 twice = remainder << 1;
            if (twice > divisorScaled || (twice == divisorScaled && (quotient & 1) != 0))
            {
                remainder = divisorScaled - remainder;
                quotient++;
                resultNegative = !negative;
            }
        }
        int q = (int)(quotient & 7);
        conditions = (ushort)(((q & 4) != 0 ? C0 : 0) | ((q & 2) != 0 ? C3 : 0) | ((q & 1) != 0 ? C1 : 0));
        return remainder == 0
            ? Float80.Zero(negative)
            : ExtendedArithmetic.RoundToExtended(resultNegative, unitExponent, remainder, ref ctx);
    }
}
