using System.Runtime.CompilerServices;

namespace MiniVM.Cpu;

// Integer arithmetic with eager flag computation (SDM vol. 1 appendix A). Where the SDM leaves a flag
// undefined we produce what a P6 is commonly observed to give, but tests mask those flags.
public sealed partial class X86Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint SignBit(int size) => 1u << (8 * size - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Szp(uint r, int size)
    {
        uint f = Parity[r & 0xFF];
        if ((r & SizeMask(size)) == 0) f |= ZF;
        if ((r & SignBit(size)) != 0) f |= SF;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetArith(uint f)
    {
        // All six arithmetic bits are replaced, so a pending lazy record need not be materialised first.
        _flags = (_flags & ~ArithFlags) | f;
        _lazyKind = LazyNone;
    }

    internal uint Add(uint a, uint b, uint carry, int size)
    {
        uint m = SizeMask(size);
        a &= m; b &= m;
        ulong full = (ulong)a + b + carry;
        uint r = (uint)full & m;
        uint f = Szp(r, size) | ((a ^ b ^ r) & AF);
        if (full > m) f |= CF;
        if (((a ^ r) & (b ^ r) & SignBit(size)) != 0) f |= OF;
        SetArith(f);
        return r;
    }

    internal uint Sub(uint a, uint b, uint borrow, int size)
    {
        uint m = SizeMask(size);
        a &= m; b &= m;
        uint r = (a - b - borrow) & m;
        uint f = Szp(r, size) | ((a ^ b ^ r) & AF);
        if ((ulong)b + borrow > a) f |= CF;
        if (((a ^ b) & (a ^ r) & SignBit(size)) != 0) f |= OF;
        SetArith(f);
        return r;
    }

    internal uint Logic(uint r, int size)
    {
        r &= SizeMask(size);
        SetArith(Szp(r, size));
        return r;
    }

    /// <summary>The eight ALU ops of opcodes 00–3F in their encoding order: ADD OR ADC SBB AND SUB XOR CMP.</summary>
    internal uint Alu(int op, uint a, uint b, int size) => op switch
    {
        0 => Add(a, b, 0, size),
        1 => Logic(a | b, size),
        2 => Add(a, b, Flags_ & CF, size),
        3 => Sub(a, b, Flags_ & CF, size),
        4 => Logic(a & b, size),
        5 => Sub(a, b, 0, size),
        6 => Logic(a ^ b, size),
        _ => Sub(a, b, 0, size),
    };

    internal uint Inc(uint a, int size)
    {
        uint cf = Flags_ & CF;
        uint r = Add(a, 1, 0, size);
        Flags_ = (Flags_ & ~CF) | cf;
        return r;
    }

    internal uint Dec(uint a, int size)
    {
        uint cf = Flags_ & CF;
        uint r = Sub(a, 1, 0, size);
        Flags_ = (Flags_ & ~CF) | cf;
        return r;
    }

    /// <summary>Shift/rotate group (C0/C1/D0–D3), op = ModRM reg field: ROL ROR RCL RCR SHL SHR SAL SAR.</summary>
    internal uint Shift(int op, uint a, uint count, int size)
    {
        int bits = 8 * size;
        uint m = SizeMask(size);
        uint sign = SignBit(size);
        a &= m;
        count &= 0x1F;
        if (count == 0) return a;
        uint r;
        uint f = Flags_;
        switch (op)
        {
            case 0: // ROL
            {
                int c = (int)(count % (uint)bits);
                r = c == 0 ? a : ((a << c) | (a >> (bits - c))) & m;
                f = (f & ~(CF | OF)) | (r & 1);
                if ((((r & sign) != 0) ^ ((r & 1) != 0))) f |= OF;
                break;
            }
            case 1: // ROR
            {
                int c = (int)(count % (uint)bits);
                r = c == 0 ? a : ((a >> c) | (a << (bits - c))) & m;
                f &= ~(CF | OF);
                if ((r & sign) != 0) f |= CF;
                if ((((r & sign) != 0) ^ ((r & (sign >> 1)) != 0))) f |= OF;
                break;
            }
            case 2: // RCL: rotate through CF, a (bits+1)-bit rotate
            {
                int c = (int)(count % (uint)(bits + 1));
                ulong v = a | ((ulong)(f & CF) << bits);
                if (c != 0) v = ((v << c) | (v >> (bits + 1 - c))) & ((1UL << (bits + 1)) - 1);
                r = (uint)v & m;
                uint cf = (uint)(v >> bits) & 1;
                f = (f & ~(CF | OF)) | cf;
                if ((((r & sign) != 0) ^ (cf != 0))) f |= OF;
                break;
            }
            case 3: // RCR
            {
                int c = (int)(count % (uint)(bits + 1));
                ulong v = a | ((ulong)(f & CF) << bits);
                if (c != 0) v = ((v >> c) | (v << (bits + 1 - c))) & ((1UL << (bits + 1)) - 1);
                r = (uint)v & m;
                uint cf = (uint)(v >> bits) & 1;
                f = (f & ~(CF | OF)) | cf;
                if ((((r & sign) != 0) ^ ((r & (sign >> 1)) != 0))) f |= OF;
                break;
            }
            case 4:
            case 6: // SHL/SAL
            {
                ulong v = (ulong)a << (int)count;
                r = (uint)v & m;
                uint cf = (uint)(v >> bits) & 1;
                f = (f & ~ArithFlags) | Szp(r, size) | cf;
                if ((((r & sign) != 0) ^ (cf != 0))) f |= OF;
                break;
            }
            case 5: // SHR
            {
                r = count >= 32 ? 0 : (a >> (int)count);
                uint cf = (uint)((ulong)a >> (int)(count - 1)) & 1;
                f = (f & ~ArithFlags) | Szp(r, size) | cf;
                if ((a & sign) != 0) f |= OF;
                break;
            }
            default: // SAR
            {
                int sa = (int)(a << (32 - bits)) >> (32 - bits);
                r = (uint)(sa >> (int)Math.Min(count, 31)) & m;
                uint cf = (uint)(sa >> (int)Math.Min(count - 1, 31)) & 1;
                f = (f & ~ArithFlags) | Szp(r, size) | cf;
                break;
            }
        }
        Flags_ = f;
        return r;
    }

    /// <summary>SHLD/SHRD (SDM vol. 2 "SHLD"): count masked to 5 bits; counts above the operand size leave results undefined.</summary>
    internal uint DoubleShift(bool left, uint dst, uint src, uint count, int size)
    {
        uint m = SizeMask(size);
        count &= 0x1F;
        if (count == 0) return dst & m;
        dst &= m; src &= m;
        uint r, cf;
        int c = (int)count;
        if (size == 2)
        {
            // A 16-bit SHLD/SHRD by 16..31 works on the 48-bit value dst:src:dst on a P6.
            if (left)
            {
                ulong v = ((ulong)dst << 32) | ((ulong)src << 16) | dst;
                r = (uint)(v >> (32 - c)) & m;
                cf = (uint)(v >> (48 - c)) & 1;
            }
            else
            {
                ulong w = dst | ((ulong)src << 16) | ((ulong)dst << 32);
                r = (uint)(w >> c) & m;
                cf = (uint)(w >> (c - 1)) & 1;
            }
        }
        else if (left)
        {
            ulong v = ((ulong)dst << 32) | src;
            r = (uint)(v >> (32 - c)) & m;
            cf = (uint)(v >> (64 - c)) & 1;
        }
        else
        {
            ulong v = ((ulong)src << 32) | dst;
            r = (uint)(v >> c) & m;
            cf = (uint)(v >> (c - 1)) & 1;
        }
        uint f = (Flags_ & ~ArithFlags) | Szp(r, size) | cf;
        if (((r ^ dst) & SignBit(size)) != 0) f |= OF;
        Flags_ = f;
        return r;
    }

    internal bool Condition(Iced.Intel.ConditionCode cc)
    {
        uint f = Flags_;
        return cc switch
        {
            Iced.Intel.ConditionCode.o => (f & OF) != 0,
            Iced.Intel.ConditionCode.no => (f & OF) == 0,
            Iced.Intel.ConditionCode.b => (f & CF) != 0,
            Iced.Intel.ConditionCode.ae => (f & CF) == 0,
            Iced.Intel.ConditionCode.e => (f & ZF) != 0,
            Iced.Intel.ConditionCode.ne => (f & ZF) == 0,
            Iced.Intel.ConditionCode.be => (f & (CF | ZF)) != 0,
            Iced.Intel.ConditionCode.a => (f & (CF | ZF)) == 0,
            Iced.Intel.ConditionCode.s => (f & SF) != 0,
            Iced.Intel.ConditionCode.ns => (f & SF) == 0,
            Iced.Intel.ConditionCode.p => (f & PF) != 0,
            Iced.Intel.ConditionCode.np => (f & PF) == 0,
            Iced.Intel.ConditionCode.l => ((f & SF) != 0) != ((f & OF) != 0),
            Iced.Intel.ConditionCode.ge => ((f & SF) != 0) == ((f & OF) != 0),
            Iced.Intel.ConditionCode.le => (f & ZF) != 0 || (((f & SF) != 0) != ((f & OF) != 0)),
            _ => (f & ZF) == 0 && (((f & SF) != 0) == ((f & OF) != 0)),
        };
    }
}
