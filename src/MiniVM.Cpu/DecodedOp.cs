using Iced.Intel;

namespace MiniVM.Cpu;

/// <summary>
/// One decode-cache entry: Iced's instruction (for the general interpreter) plus the operand fields that the
/// specialised handlers need, pulled out once at decode time so the hot path reads plain bytes and words
/// instead of Iced's packed accessors.
/// </summary>
internal struct DecodedOp
{
    public Instruction Ins;
    /// <summary>Which specialised handler runs it; <see cref="FastForm.General"/> = the mnemonic switch.</summary>
    public FastForm Form;
    public byte Length;
    /// <summary>GPR index (0..7) of the first and second register operands; for byte registers, Iced's <see cref="Register"/>.</summary>
    public byte Reg0, Reg1;
    /// <summary>Memory operand: base and index GPR index, 8 meaning none (<c>R[8]</c> is always zero), and the scale as a shift.</summary>
    public byte Base, Index, Scale;
    /// <summary>Segment register index of the memory operand (0 = ES .. 5 = GS).</summary>
    public byte Seg;
    /// <summary>Extra small operand: the condition code of Jcc/SETcc/CMOVcc, or the group op of a shift.</summary>
    public byte Aux;
    /// <summary>0xFFFF for 16-bit addressing, else all ones.</summary>
    public uint EaMask;
    public uint Disp;
    /// <summary>Immediate (sign-extended where the encoding does), or for a relative branch the target minus the next IP.</summary>
    public uint Imm;
    /// <summary>Times a block starting here was entered while untranslated (the translating engine's tiering counter).</summary>
    public ushort Heat;
    /// <summary>Thresholds' worth of entries already counted on a page that keeps being rewritten (see X86Cpu.TranslateHot).</summary>
    public byte HeatRounds;
    /// <summary>The translation of the block starting here, if any (<see cref="CpuEngine.Jit"/>).</summary>
    public TranslatedBlock? Block;
}

/// <summary>
/// The specialised instruction shapes. R = 32-bit register, M = memory, I = immediate; the first
/// letter is the destination.
/// </summary>
internal enum FastForm : byte
{
    General,
    MovRR, MovRM, MovMR, MovRI, MovMI,
    MovR8M, MovM8R, MovM8I, MovR8R8, MovR8I,
    MovM16R, MovR16M, MovM16I,
    MovzxR8, MovzxM8, MovzxR16, MovzxM16, MovsxR8, MovsxM8, MovsxR16, MovsxM16,
    AddRR, AddRM, AddMR, AddRI, AddMI,
    OrRR, OrRM, OrMR, OrRI, OrMI,
    AndRR, AndRM, AndMR, AndRI, AndMI,
    SubRR, SubRM, SubMR, SubRI, SubMI,
    XorRR, XorRM, XorMR, XorRI, XorMI,
    CmpRR, CmpRM, CmpMR, CmpRI, CmpMI,
    TestRR, TestMR, TestRI, TestMI,
    Cmp8RR, Cmp8MR, Cmp8RM, Cmp8RI, Cmp8MI, Test8RR, Test8RI, Test8MI,
    IncR, DecR, IncM, DecM,
    ShiftRI, ShiftRCl,
    Lea,
    PushR, PushI, PushM, PopR,
    CallRel, CallR, CallM, Ret, RetImm, JmpRel, JmpR, JmpM, Jcc, Jz, Jnz,
    SetccR8, SetccM8, CmovRR, CmovRM,
    ImulRR, ImulRM, ImulRRI, ImulRMI,
    Leave, Cdq, Nop, Xchg,
    // 16-bit operand forms (real-mode and 16-bit protected-mode code: BIOS, DOS); flags computed eagerly.
    MovR16R16, MovR16I, Alu16RR, Alu16RM, Alu16MR, Alu16RI, Alu16MI, Test16RR, Test16RI, IncR16, DecR16,
    LeaR16, PushR16, PopR16, Jcc16, JmpRel16, CallRel16, Ret16,
}
