using System.Buffers.Binary;

namespace MiniVM.Cpu.Fpu;

public sealed partial class X87
{
    private const ulong BcdLimit = 999_999_999_999_999_999;

    /// <summary>FST/FSTP m32fp/m64fp: rounds per RC into the memory format; written before state is committed.</summary>
    private void StoreReal(IX87Memory memory, int size, bool pop)
    {
        if (IsEmpty(0))
        {
            // Masked stack underflow stores the indefinite in the destination format.
            if (InvalidMasked)
            {
                if (size == 4)
                {
                    WriteUInt32(memory, 0, 0xFFC0_0000);
                }
                else
                {
                    WriteUInt64(memory, 0, 0xFFF8_0000_0000_0000);
                }
            }
            StackUnderflowNoDestination(pop);
            return;
        }
        RoundingContext ctx = new(size == 4 ? 24 : 53, Rounding,
            (Unmasked & X87Exceptions.Overflow) != 0, (Unmasked & X87Exceptions.Underflow) != 0);
        if (size == 4)
        {
            uint bits = RealFormats.ToSingle(St(0), ref ctx);
            if (SuppressesStore(ctx.Raised))
            {
                Signal(ctx.Raised);
                return;
            }
            WriteUInt32(memory, 0, bits);
        }
        else
        {
            ulong bits = RealFormats.ToDouble(St(0), ref ctx);
            if (SuppressesStore(ctx.Raised))
            {
                Signal(ctx.Raised);
                return;
            }
            WriteUInt64(memory, 0, bits);
        }
        SetC1(ctx.RoundedUp);
        if (pop)
        {
            Pop();
        }
        Signal(ctx.Raised);
    }

    /// <summary>Stack underflow of an instruction whose destination is memory (already written if masked).</summary>
    private void StackUnderflowNoDestination(bool pop)
    {
        SetC1(false);
        if (InvalidMasked && pop)
        {
            Pop();
        }
        Signal(X87Exceptions.Invalid | X87Exceptions.StackFault);
    }

    /// <summary>FSTP m80fp: the register image is stored bit for bit.</summary>
    private void StoreExtended(IX87Memory memory)
    {
        Span<byte> bytes = stackalloc byte[10];
        if (IsEmpty(0))
        {
            if (InvalidMasked)
            {
                Float80.Indefinite.Write(bytes);
                memory.WriteOperand(0, bytes);
            }
            StackUnderflowNoDestination(pop: true);
            return;
        }
        St(0).Write(bytes);
        memory.WriteOperand(0, bytes);
        SetC1(false);
        Pop();
    }

    /// <summary>FST/FSTP ST(i): a register copy, no conversion and no exceptions besides stack underflow.</summary>
    private void StoreRegister(int destination, bool pop)
    {
        if (IsEmpty(0))
        {
            StackUnderflow(destination, pop);
            return;
        }
        SetSt(destination, St(0));
        SetC1(false);
        if (pop)
        {
            Pop();
        }
    }

    /// <summary>FIST/FISTP/FISTTP: rounds per <paramref name="mode"/>; NaN, infinity or out-of-range is invalid and
    /// the masked response stores the integer indefinite (the most negative value).</summary>
    private void StoreInteger(IX87Memory memory, int size, bool pop, RoundingMode mode)
    {
        int bits = size * 8;
        ulong indefinite = 1UL << (bits - 1);
        if (IsEmpty(0))
        {
            if (InvalidMasked)
            {
                WriteInteger(memory, size, indefinite);
            }
            StackUnderflowNoDestination(pop);
            return;
        }
        X87Exceptions raised = X87Exceptions.None;
        bool roundedUp = false;
        ulong value;
        if (TryRoundForIntegerStore(St(0), mode, out bool negative, out ulong magnitude, ref raised, ref roundedUp)
            && (negative ? magnitude <= indefinite : magnitude < indefinite))
        {
            value = negative ? 0 - magnitude : magnitude;
        }
        else
        {
            raised = X87Exceptions.Invalid;
            roundedUp = false;
            value = indefinite;
        }
        if (SuppressesResult(raised))
        {
            Signal(raised);
            return;
        }
        WriteInteger(memory, size, value);
        SetC1(roundedUp);
        if (pop)
        {
            Pop();
        }
        Signal(raised);
    }

    private static void WriteInteger(IX87Memory memory, int size, ulong value)
    {
        switch (size)
        {
            case 2:
                WriteUInt16(memory, 0, (ushort)value);
                break;
            case 4:
                WriteUInt32(memory, 0, (uint)value);
                break;
            default:
                WriteUInt64(memory, 0, value);
                break;
        }
    }

    /// <summary>Rounds a register to an integer magnitude; false for NaN, infinity, unsupported or ≥ 2^64.</summary>
    private static bool TryRoundForIntegerStore(Float80 value, RoundingMode mode, out bool negative, out ulong magnitude,
        ref X87Exceptions raised, ref bool roundedUp)
    {
        negative = value.IsNegative;
        magnitude = 0;
        if (value.IsNaN || value.IsInfinity || value.IsUnsupported)
        {
            return false;
        }
        if (value.IsZero)
        {
            return true;
        }
        value.Unpack(out negative, out int exponent, out ulong significand);
        if (exponent > 63)
        {
            return false;
        }
        if (exponent == 63)
        {
            magnitude = significand;
            return true;
        }
        magnitude = ExtendedArithmetic.RoundToIntegerMagnitude(negative, exponent, significand, mode, out bool inexact, out roundedUp);
        if (inexact)
        {
            raised |= X87Exceptions.Precision;
        }
        return true;
    }

    /// <summary>FBLD: 18 packed BCD digits, sign in bit 79 (SDM vol. 1 §4.7). Invalid digits are not checked
    /// by hardware either (the result is undefined); here they simply weigh as their nibble value.</summary>
    private void LoadBcd(IX87Memory memory)
    {
        Span<byte> bytes = stackalloc byte[10];
        memory.ReadOperand(0, bytes);
        ulong magnitude = 0;
        for (int i = 8; i >= 0; i--)
        {
            magnitude = magnitude * 100 + (ulong)(bytes[i] >> 4) * 10 + (ulong)(bytes[i] & 0xF);
        }
        Push(ExtendedArithmetic.FromInteger((bytes[9] & 0x80) != 0, magnitude), X87Exceptions.None);
    }

    /// <summary>FBSTP: rounds per RC; beyond 18 digits, NaN or infinity is invalid and the masked response
    /// stores the packed BCD indefinite FFFF C000 0000 0000 0000h.</summary>
    private void StoreBcd(IX87Memory memory)
    {
        Span<byte> bytes = stackalloc byte[10];
        if (IsEmpty(0))
        {
            if (InvalidMasked)
            {
                WriteBcdIndefinite(bytes);
                memory.WriteOperand(0, bytes);
            }
            StackUnderflowNoDestination(pop: true);
            return;
        }
        X87Exceptions raised = X87Exceptions.None;
        bool roundedUp = false;
        if (TryRoundForIntegerStore(St(0), Rounding, out bool negative, out ulong magnitude, ref raised, ref roundedUp)
            && magnitude <= BcdLimit)
        {
            for (int i = 0; i < 9; i++)
            {
                int pair = (int)(magnitude % 100);
                magnitude /= 100;
                bytes[i] = (byte)(((pair / 10) << 4) | (pair % 10));
            }
            bytes[9] = (byte)(negative ? 0x80 : 0);
        }
        else
        {
            raised = X87Exceptions.Invalid;
            roundedUp = false;
            WriteBcdIndefinite(bytes);
        }
        if (SuppressesResult(raised))
        {
            Signal(raised);
            return;
        }
        memory.WriteOperand(0, bytes);
        SetC1(roundedUp);
        Pop();
        Signal(raised);
    }

    private static void WriteBcdIndefinite(Span<byte> bytes)
    {
        bytes.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 0xC000_0000_0000_0000);
        bytes[8] = 0xFF;
        bytes[9] = 0xFF;
    }
}
