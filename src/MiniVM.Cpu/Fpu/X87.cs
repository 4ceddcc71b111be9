using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// The x87 FPU of a P6-class CPU (FPU + FCMOV/FCOMI; no FXSR, no SSE3).
///
/// Precision: registers hold genuine 80-bit extended values. FADD/FSUB/FMUL/FDIV/FSQRT (and their integer
/// forms), every load/store conversion, FRNDINT, FSCALE, FXTRACT, FPREM/FPREM1 and all compares are computed
/// in software on the 64-bit significand with one correct rounding per RC and PC (ExtendedArithmetic), so
/// FLD/FSTP m80 and FILD/FISTP m64 round trips and the basic operations are bit-exact with real hardware
/// (tests replay results recorded on a host x87, HostX87Vectors).
/// The transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1) are evaluated
/// as series in a 128-bit-significand intermediate (WideFloat) and rounded once per RC, so they are accurate
/// to about the last bit of the 64-bit significand (not guaranteed correctly rounded, as on real hardware);
/// PC does not apply to them (SDM vol. 1 §8.1.5.2).
///
/// The CPU owns CR0.EM/TS/MP (#NM), WAIT and #MF delivery: it checks <see cref="ErrorPending"/> before every
/// waiting x87 instruction (all but FNINIT/FNCLEX/FNSTCW/FNSTSW/FNSTENV/FNSAVE and the 8087 no-ops), stores
/// <see cref="StatusWord"/> into AX for FNSTSW AX, and for the instructions where <see cref="UsesEflags"/> is
/// true copies its EFLAGS into <see cref="Eflags"/> before Execute and ZF/PF/CF/OF/SF/AF back afterwards.
/// </summary>
public sealed partial class X87
{
    private const ushort C0 = 0x0100, C1 = 0x0200, C2 = 0x0400, C3 = 0x4000;
    private const ushort ConditionMask = C0 | C1 | C2 | C3;
    private const ushort ErrorSummary = 0x0080, Busy = 0x8000;
    private const ushort TopMask = 0x3800;

    /// <summary>EFLAGS bits FCOMI writes (ZF, PF, CF) and clears (OF, SF, AF), SDM vol. 2 FCOMI.</summary>
    public const uint CarryFlag = 0x0001, ParityFlag = 0x0004, AuxiliaryFlag = 0x0010, ZeroFlag = 0x0040, SignFlag = 0x0080, OverflowFlag = 0x0800;

    private readonly Float80[] registers = new Float80[8];
    private byte emptyMask;
    private int top;
    private ushort controlWord;
    private ushort statusWord;
    private uint instructionOffset;
    private ushort instructionSelector;
    private uint dataOffset;
    private ushort dataSelector;
    private ushort lastOpcode;

    public X87() => Reset();

    public ushort ControlWord => controlWord;

    /// <summary>The status word with TOP in bits 11–13, as FNSTSW stores it.</summary>
    public ushort StatusWord => (ushort)((statusWord & ~TopMask) | (top << 11));

    /// <summary>The full tag word as FNSTENV stores it: empty registers tag 11, others are classified
    /// from their contents (SDM vol. 1 §8.1.7), one pair per physical register.</summary>
    public ushort TagWord
    {
        get
        {
            int word = 0;
            for (int physical = 0; physical < 8; physical++)
            {
                int tag = (emptyMask & (1 << physical)) != 0 ? 3 : registers[physical].Tag;
                word |= tag << (2 * physical);
            }
            return (ushort)word;
        }
    }

    /// <summary>ES is set: an unmasked exception is pending, the CPU raises #MF (CR0.NE) or FERR# before the
    /// next waiting x87 instruction.</summary>
    public bool ErrorPending => (statusWord & ErrorSummary) != 0;

    /// <summary>Top-of-stack pointer (TOP field of the status word).</summary>
    public int Top => top;

    /// <summary>Last FPU instruction pointer and operand pointer, as FNSTENV would store them in protected mode.</summary>
    public uint InstructionPointer => instructionOffset;
    public ushort InstructionSelector => instructionSelector;
    public uint DataPointer => dataOffset;
    public ushort DataSelector => dataSelector;
    public ushort LastOpcode => lastOpcode;

    /// <summary>EFLAGS image: FCMOVcc reads CF/ZF/PF from it, FCOMI/FCOMIP/FUCOMI/FUCOMIP write ZF, PF, CF and
    /// clear OF, SF, AF in it. Only meaningful around instructions for which <see cref="UsesEflags"/> is true.</summary>
    public uint Eflags { get; set; }

    /// <summary>True for FCMOVcc and FCOMI/FCOMIP/FUCOMI/FUCOMIP: the CPU must copy EFLAGS into <see cref="Eflags"/>
    /// before Execute and back afterwards.</summary>
    public static bool UsesEflags(in Instruction instruction) => instruction.Mnemonic switch
    {
        Mnemonic.Fcmovb or Mnemonic.Fcmove or Mnemonic.Fcmovbe or Mnemonic.Fcmovu
            or Mnemonic.Fcmovnb or Mnemonic.Fcmovne or Mnemonic.Fcmovnbe or Mnemonic.Fcmovnu
            or Mnemonic.Fcomi or Mnemonic.Fcomip or Mnemonic.Fucomi or Mnemonic.Fucomip => true,
        _ => false,
    };

    /// <summary>Physical register contents (index 0–7 is the physical register, not ST(i)), for debuggers and tests.</summary>
    public Float80 GetPhysicalRegister(int physical) => registers[physical & 7];

    /// <summary>ST(i) contents; an empty register reads as whatever it last held.</summary>
    public Float80 GetStack(int st) => registers[Physical(st)];

    public bool IsStackEmpty(int st) => (emptyMask & (1 << Physical(st))) != 0;

    /// <summary>Power-on (RESET) state per SDM vol. 3 Table 9-1: control word 0040H (all exceptions unmasked,
    /// single precision), status 0, tag word 5555H with every register +0.0. This differs from FNINIT
    /// (<see cref="Initialize"/>: 037FH, all registers empty); firmware and operating systems run FNINIT first.</summary>
    public void Reset()
    {
        Array.Clear(registers);
        emptyMask = 0;
        top = 0;
        controlWord = 0x0040;
        statusWord = 0;
        ClearPointers();
    }

    /// <summary>FNINIT: control word 037FH, status 0, all registers empty, pointers cleared. Register contents stay.</summary>
    public void Initialize()
    {
        controlWord = 0x037F;
        statusWord = 0;
        top = 0;
        emptyMask = 0xFF;
        ClearPointers();
    }

    private void ClearPointers()
    {
        instructionOffset = 0;
        instructionSelector = 0;
        dataOffset = 0;
        dataSelector = 0;
        lastOpcode = 0;
    }

    private RoundingMode Rounding => (RoundingMode)((controlWord >> 10) & 3);

    /// <summary>PC field: 00 single (24 bits), 10 double (53), 11 extended (64); 01 is reserved and treated as extended.</summary>
    private int PrecisionBits => ((controlWord >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 };

    private X87Exceptions Unmasked => (X87Exceptions)(~controlWord & 0x3F);

    private RoundingContext ArithmeticContext() =>
        new(PrecisionBits, Rounding, (Unmasked & X87Exceptions.Overflow) != 0, (Unmasked & X87Exceptions.Underflow) != 0);

    /// <summary>Context for results PC does not apply to (SDM vol. 1 §8.1.5.2): everything except the basic five.</summary>
    private RoundingContext ExtendedContext() =>
        new(64, Rounding, (Unmasked & X87Exceptions.Overflow) != 0, (Unmasked & X87Exceptions.Underflow) != 0);

    private int Physical(int st) => (top + st) & 7;

    private bool IsEmpty(int st) => (emptyMask & (1 << Physical(st))) != 0;

    private Float80 St(int st) => registers[Physical(st)];

    private void SetSt(int st, Float80 value)
    {
        int physical = Physical(st);
        registers[physical] = value;
        emptyMask &= (byte)~(1 << physical);
    }

    private void Pop()
    {
        emptyMask |= (byte)(1 << top);
        top = (top + 1) & 7;
    }

    private void SetConditions(ushort conditions) => statusWord = (ushort)((statusWord & ~ConditionMask) | conditions);

    private void SetC1(bool value) => statusWord = (ushort)(value ? statusWord | C1 : statusWord & ~C1);

    /// <summary>Records raised exceptions (sticky) and recomputes ES/B: they are set while any exception flag
    /// is set whose mask bit is clear (SDM vol. 1 §8.1.3.2); on the 387 and later B mirrors ES.</summary>
    private void Signal(X87Exceptions raised)
    {
        statusWord |= (ushort)raised;
        UpdateSummary();
    }

    private void UpdateSummary()
    {
        if ((statusWord & ~controlWord & 0x3F) != 0)
        {
            statusWord |= ErrorSummary | Busy;
        }
        else
        {
            statusWord &= unchecked((ushort)~(ErrorSummary | Busy));
        }
    }

    /// <summary>An unmasked invalid, denormal or divide-by-zero exception suppresses the result (SDM vol. 1 §8.5).</summary>
    private bool SuppressesResult(X87Exceptions raised) =>
        (raised & Unmasked & (X87Exceptions.Invalid | X87Exceptions.Denormal | X87Exceptions.ZeroDivide)) != 0;

    /// <summary>Memory destinations are not written on unmasked overflow or underflow either (SDM vol. 1 §8.5.4/§8.5.5).</summary>
    private bool SuppressesStore(X87Exceptions raised) =>
        SuppressesResult(raised) || (raised & Unmasked & (X87Exceptions.Overflow | X87Exceptions.Underflow)) != 0;

    private bool InvalidMasked => (controlWord & (ushort)X87Exceptions.Invalid) != 0;

    /// <summary>Stack underflow on a source: IE+SF with C1=0; the masked response writes the indefinite to
    /// <paramref name="destination"/> (and performs the pop); unmasked leaves the stack alone.</summary>
    private void StackUnderflow(int destination, bool pop)
    {
        SetC1(false);
        if (InvalidMasked)
        {
            SetSt(destination, Float80.Indefinite);
            if (pop)
            {
                Pop();
            }
        }
        Signal(X87Exceptions.Invalid | X87Exceptions.StackFault);
    }

    /// <summary>Pushes a value; an occupied ST(7) is a stack overflow (IE+SF, C1=1) whose masked response
    /// pushes the indefinite. <paramref name="raised"/> are exceptions of producing the value.</summary>
    private void Push(Float80 value, X87Exceptions raised)
    {
        int physical = (top - 1) & 7;
        if ((emptyMask & (1 << physical)) == 0)
        {
            SetC1(true);
            if (InvalidMasked)
            {
                top = physical;
                registers[physical] = Float80.Indefinite;
            }
            Signal(X87Exceptions.Invalid | X87Exceptions.StackFault);
            return;
        }
        SetC1(false);
        if (SuppressesResult(raised))
        {
            Signal(raised);
            return;
        }
        top = physical;
        registers[physical] = value;
        emptyMask &= (byte)~(1 << physical);
        Signal(raised);
    }

    /// <summary>Writes an arithmetic result unless an unmasked exception suppresses it; C1 reports round-up.</summary>
    private void Commit(int destination, Float80 result, in RoundingContext ctx, bool pop)
    {
        if (SuppressesResult(ctx.Raised))
        {
            Signal(ctx.Raised);
            return;
        }
        SetSt(destination, result);
        SetC1(ctx.RoundedUp);
        if (pop)
        {
            Pop();
        }
        Signal(ctx.Raised);
    }
}
