using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// Lazy arithmetic flags (as Bochs does): the specialised 32-bit handlers record the operands and result of their
// last flag-setting operation instead of computing CF PF AF ZF SF OF. A conditional jump, SETcc or CMOVcc
// evaluates its condition straight from that record; everything else reads EFLAGS through Flags_, which
// materialises the six bits first. _flags always holds the non-arithmetic bits (IF, TF, DF, IOPL, VM, ...),
// so the run loop tests those without materialising.
public sealed partial class X86Cpu
{
    private const int LazyNone = 0, LazyAdd = 1, LazySub = 2, LazyLogic = 3, LazyInc = 4, LazyDec = 5;

    private uint _flags = 2;
    private int _lazyKind;
    private uint _lazyA, _lazyB, _lazyRes;
    /// <summary>INC/DEC leave CF alone: the carry in force before them.</summary>
    private uint _lazyCf;

    /// <summary>EFLAGS with the arithmetic bits materialised; writing it drops any pending lazy record.</summary>
    internal uint Flags_
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (_lazyKind != LazyNone) MaterialiseFlags();
            return _flags;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set
        {
            _lazyKind = LazyNone;
            _flags = value;
        }
    }

    private void MaterialiseFlags()
    {
        uint r = _lazyRes, a = _lazyA, b = _lazyB;
        uint f = Parity[r & 0xFF] | ((r >> 24) & SF);
        if (r == 0) f |= ZF;
        switch (_lazyKind)
        {
            case LazyAdd:
                f |= ((a ^ b ^ r) & AF) | ((((a ^ r) & (b ^ r)) >> 20) & OF);
                if (r < a) f |= CF;
                break;
            case LazySub:
                f |= ((a ^ b ^ r) & AF) | ((((a ^ b) & (a ^ r)) >> 20) & OF);
                if (a < b) f |= CF;
                break;
            case LazyInc:
                f |= ((a ^ b ^ r) & AF) | ((((a ^ r) & (b ^ r)) >> 20) & OF) | _lazyCf;
                break;
            case LazyDec:
                f |= ((a ^ b ^ r) & AF) | ((((a ^ b) & (a ^ r)) >> 20) & OF) | _lazyCf;
                break;
        }
        _flags = (_flags & ~ArithFlags) | f;
        _lazyKind = LazyNone;
    }

    /// <summary>CF as it stands, without materialising the other flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint CarryNow() => _lazyKind switch
    {
        LazyNone => _flags & CF,
        LazyAdd => _lazyRes < _lazyA ? CF : 0,
        LazySub => _lazyA < _lazyB ? CF : 0,
        LazyLogic => 0,
        _ => _lazyCf,
    };

    /// <summary>ZF as it stands: every lazy kind sets it from the 32-bit result.</summary>
    private bool ZeroFlagNow
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _lazyKind != LazyNone ? _lazyRes == 0 : (_flags & ZF) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LazyAdd32(uint a, uint b)
    {
        uint r = a + b;
        _lazyKind = LazyAdd; _lazyA = a; _lazyB = b; _lazyRes = r;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LazySub32(uint a, uint b)
    {
        uint r = a - b;
        _lazyKind = LazySub; _lazyA = a; _lazyB = b; _lazyRes = r;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LazyLogic32(uint r)
    {
        _lazyKind = LazyLogic; _lazyRes = r;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LazyInc32(uint a)
    {
        uint cf = CarryNow();
        uint r = a + 1;
        _lazyKind = LazyInc; _lazyA = a; _lazyB = 1; _lazyRes = r; _lazyCf = cf;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LazyDec32(uint a)
    {
        uint cf = CarryNow();
        uint r = a - 1;
        _lazyKind = LazyDec; _lazyA = a; _lazyB = 1; _lazyRes = r; _lazyCf = cf;
        return r;
    }

    /// <summary>A condition code (Iced's numbering) evaluated from the lazy record where it can be, else from EFLAGS.</summary>
    private bool TestCondition(int cc)
    {
        uint r = _lazyRes;
        switch (_lazyKind)
        {
            case LazySub:
            {
                uint a = _lazyA, b = _lazyB;
                switch ((ConditionCode)cc)
                {
                    case ConditionCode.e: return a == b;
                    case ConditionCode.ne: return a != b;
                    case ConditionCode.b: return a < b;
                    case ConditionCode.ae: return a >= b;
                    case ConditionCode.be: return a <= b;
                    case ConditionCode.a: return a > b;
                    case ConditionCode.s: return (int)r < 0;
                    case ConditionCode.ns: return (int)r >= 0;
                    case ConditionCode.l: return (int)a < (int)b;
                    case ConditionCode.ge: return (int)a >= (int)b;
                    case ConditionCode.le: return (int)a <= (int)b;
                    case ConditionCode.g: return (int)a > (int)b;
                }
                break;
            }
            case LazyLogic:
                switch ((ConditionCode)cc)
                {
                    case ConditionCode.e: case ConditionCode.be: return r == 0;
                    case ConditionCode.ne: case ConditionCode.a: return r != 0;
                    case ConditionCode.s: case ConditionCode.l: return (int)r < 0;
                    case ConditionCode.ns: case ConditionCode.ge: return (int)r >= 0;
                    case ConditionCode.le: return (int)r <= 0;
                    case ConditionCode.g: return (int)r > 0;
                    case ConditionCode.o: case ConditionCode.b: return false;
                    case ConditionCode.no: case ConditionCode.ae: return true;
                }
                break;
            case LazyAdd:
            case LazyInc:
            case LazyDec:
                switch ((ConditionCode)cc)
                {
                    case ConditionCode.e: return r == 0;
                    case ConditionCode.ne: return r != 0;
                    case ConditionCode.s: return (int)r < 0;
                    case ConditionCode.ns: return (int)r >= 0;
                    // CF: ADD's carry out (r < a), the carry INC/DEC kept.
                    case ConditionCode.b: return CarryNow() != 0;
                    case ConditionCode.ae: return CarryNow() == 0;
                    case ConditionCode.be: return CarryNow() != 0 || r == 0;
                    case ConditionCode.a: return CarryNow() == 0 && r != 0;
                }
                break;
        }
        return Condition((ConditionCode)cc);
    }
}
