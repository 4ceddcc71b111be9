using System.Globalization;
using System.Text;
using Iced.Intel;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// One line of `x /i` as QEMU 7.2 prints it: Debian's QEMU disassembles x86 with capstone 4 in AT&amp;T syntax
/// (disas/capstone.c sets CS_OPT_SYNTAX_ATT), eight bytes per line. Iced's GAS formatter spells nearly all of it the
/// same way; what capstone's AT&amp;T printer does differently is written here, each rule with its instructions.
/// </summary>
internal sealed class QemuDisassembler
{
    /// <summary>capstone's cap_insn_split for x86 in QEMU: bytes shown per line, the rest continue below.</summary>
    private const int BytesPerLine = 8;

    private readonly GasFormatter _suffixed = NewFormatter(suffix: true);
    private readonly GasFormatter _plain = NewFormatter(suffix: false);

    private static GasFormatter NewFormatter(bool suffix)
    {
        var f = new GasFormatter(symbolResolver: null, optionsProvider: new CapstoneImmediates());
        var o = f.Options;
        o.GasShowMnemonicSizeSuffix = suffix;
        o.SpaceAfterOperandSeparator = true;
        o.GasSpaceAfterMemoryOperandComma = true;
        o.HexPrefix = "0x";
        o.HexSuffix = null;
        o.UppercaseHex = false;
        o.SmallHexNumbersInDecimal = true; // capstone's HEX_THRESHOLD: 0..9 in decimal
        o.BranchLeadingZeros = false;
        o.DisplacementLeadingZeros = false;
        o.LeadingZeros = false;
        o.SignedImmediateOperands = false;
        o.ShowUselessPrefixes = true;      // a segment override the guest wrote is shown even when it is the default
        return f;
    }

    /// <summary>
    /// How many bytes capstone takes for <paramref name="ins"/>: its length, except UD0 (0F FF) and UD1 (0F B9),
    /// which capstone 4 reads as two-byte <c>ud0</c> and <c>ud2b</c> without a ModRM byte.
    /// </summary>
    public static int Length(in Instruction ins) =>
        ins.Code is Code.Ud0_r16_rm16 or Code.Ud0_r32_rm32 or Code.Ud1_r16_rm16 or Code.Ud1_r32_rm32 ? 2 : ins.Length;

    /// <summary>
    /// A byte that starts no instruction: QEMU runs capstone in SKIPDATA mode, which prints it as data and goes on
    /// with the next byte.
    /// </summary>
    public static string Invalid(ulong address, byte b) =>
        string.Create(CultureInfo.InvariantCulture, $"0x{address:x8}:  {b:x2}{"",-22} {".byte",-8} 0x{b:x2}");

    /// <summary>
    /// The text of <paramref name="ins"/> decoded at <paramref name="address"/> from <paramref name="bytes"/>
    /// (<see cref="Length"/> bytes).
    /// </summary>
    public string Line(ulong address, ReadOnlySpan<byte> bytes, in Instruction ins)
    {
        var sb = new StringBuilder();
        int first = Math.Min(bytes.Length, BytesPerLine);
        sb.Append(CultureInfo.InvariantCulture, $"0x{address:x8}:  {HexBytes(bytes[..first]),-24} {Mnemonic(ins),-8} {Operands(ins)}");
        for (int i = first; i < bytes.Length; i += BytesPerLine)
            sb.Append(CultureInfo.InvariantCulture, $"\n0x{address + (ulong)i:x8}:  {HexBytes(bytes[i..Math.Min(bytes.Length, i + BytesPerLine)])}");
        return sb.ToString();
    }

    private static string HexBytes(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (byte b in bytes) sb.Append(sb.Length == 0 ? "" : " ").Append(b.ToString("x2", CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    private string Mnemonic(in Instruction ins)
    {
        // capstone's own names where they differ from Iced's.
        switch (ins.Code)
        {
            case Code.Ud0_r16_rm16 or Code.Ud0_r32_rm32: return "ud0";
            case Code.Ud1_r16_rm16 or Code.Ud1_r32_rm32: return "ud2b";
            case Code.Wait: return "wait";
            case Code.Fnsetpm: return "fsetpm";
            case Code.Fstpnce_sti: return "fstpnce";
            case Code.Fneni: return "feni8087_nop";
            case Code.Fndisi: return "fdisi8087_nop";
            // MOVZX/MOVSX r16, r/m16: capstone spells them as the 32-bit forms.
            case Code.Movzx_r16_rm16: return "movzwl";
            case Code.Movsx_r16_rm16: return "movswl";
        }
        if (IsOpcode90Nop(ins)) return "nop";
        var output = new StringOutput();
        // capstone adds no size suffix to these (enter, leave, loop*, setcc, x87 control and environment stores,
        // verr/verw, arpl, bound, sysexit); Iced's GAS spelling does.
        var formatter = Unsuffixed(ins) ? _plain : _suffixed;
        if (CapstoneShowsPrefixes(ins))
        {
            formatter.FormatMnemonic(ins, output);
            string text = output.ToStringAndReset();
            // F2 on a branch is BND to capstone on every branch; Iced says repne on a short JMP.
            return ins.HasRepnePrefix && !ins.IsStringInstruction && text.StartsWith("repne ", StringComparison.Ordinal) ? "bnd " + text[6..] : text;
        }
        formatter.FormatMnemonic(ins, output, FormatMnemonicOptions.NoPrefixes);
        return (ins.HasLockPrefix ? "lock " : "") + output.ToStringAndReset();
    }

    /// <summary>
    /// capstone names a prefix only where it acts: REP/REPE/REPNE on string instructions, BND on branches, a segment
    /// inside a memory operand (Iced prints it there too). A REP on anything else, a segment override on an
    /// instruction without memory operand, a branch hint (2E/3E on Jcc) are not printed.
    /// </summary>
    private static bool CapstoneShowsPrefixes(in Instruction ins)
    {
        if (ins.IsStringInstruction) return true;
        if (ins.HasRepnePrefix && ins.FlowControl is FlowControl.Call or FlowControl.IndirectCall or FlowControl.UnconditionalBranch
                or FlowControl.IndirectBranch or FlowControl.ConditionalBranch or FlowControl.Return) return !IsHinted(ins);
        return !ins.HasRepPrefix && !ins.HasRepePrefix && !ins.HasRepnePrefix && !IsHinted(ins) && (ins.SegmentPrefix == Register.None || HasMemoryOperand(ins));
    }

    private static bool IsHinted(in Instruction ins) =>
        ins.FlowControl == FlowControl.ConditionalBranch && ins.SegmentPrefix is Register.CS or Register.DS;

    private static bool HasMemoryOperand(in Instruction ins)
    {
        for (int i = 0; i < ins.OpCount; i++)
            if (ins.GetOpKind(i) is OpKind.Memory or >= OpKind.MemorySegSI and <= OpKind.MemoryESRDI) return true;
        return false;
    }

    /// <summary>Opcode 90 with an operand-size prefix (66 90): capstone says nop, Iced xchg %ax, %ax.</summary>
    private static bool IsOpcode90Nop(in Instruction ins) => ins.Code is Code.Nopw or Code.Nopd;

    private static bool Unsuffixed(in Instruction ins) => ins.Mnemonic switch
    {
        Iced.Intel.Mnemonic.Enter or Iced.Intel.Mnemonic.Leave or Iced.Intel.Mnemonic.Loop or Iced.Intel.Mnemonic.Loope
            or Iced.Intel.Mnemonic.Loopne or Iced.Intel.Mnemonic.Fldcw or Iced.Intel.Mnemonic.Fnstcw
            or Iced.Intel.Mnemonic.Fnstsw or Iced.Intel.Mnemonic.Fnstenv or Iced.Intel.Mnemonic.Fldenv
            or Iced.Intel.Mnemonic.Fnsave or Iced.Intel.Mnemonic.Frstor or Iced.Intel.Mnemonic.Verr
            or Iced.Intel.Mnemonic.Verw or Iced.Intel.Mnemonic.Arpl or Iced.Intel.Mnemonic.Bound
            or Iced.Intel.Mnemonic.Sysexit => true,
        _ => IsSetcc(ins.Mnemonic),
    };

    private static bool IsSetcc(Iced.Intel.Mnemonic m) =>
        m != Iced.Intel.Mnemonic.Setssbsy && m.ToString().StartsWith("Set", StringComparison.Ordinal);

    private string Operands(in Instruction ins)
    {
        if (IsOpcode90Nop(ins) || Length(ins) != ins.Length) return "";
        if (IsFpuRegisterForm(ins)) return FpuRegisterOperands(ins);
        if (ins.Code is Code.Xlat_m8) return "";
        if (ins.Op0Kind is OpKind.FarBranch16 or OpKind.FarBranch32)
        {
            uint offset = ins.Op0Kind == OpKind.FarBranch16 ? ins.FarBranch16 : ins.FarBranch32;
            return string.Create(CultureInfo.InvariantCulture, $"$0x{ins.FarBranchSelector:x}:$0x{offset:x}");
        }
        // ENTER: capstone reads the frame size as a signed word and the nesting level as a signed byte.
        if (ins.Mnemonic == Iced.Intel.Mnemonic.Enter) return $"${Number((short)ins.Immediate16)}, ${Number((sbyte)ins.Immediate8_2nd)}";
        var parts = new List<string>();
        var output = new StringOutput();
        int count = _suffixed.GetOperandCount(ins);
        for (int i = 0; i < count; i++)
        {
            _suffixed.FormatOperand(ins, output, i);
            string text = output.ToStringAndReset();
            // The string instructions' ES:(E)DI operand: capstone names its fixed segment.
            if (IsEsDi(ins, i) && !text.StartsWith("%es:", StringComparison.Ordinal)) text = "%es:" + text;
            // A SIB byte with no index (and a scale): Iced leaves an empty index slot, capstone writes the base alone.
            text = text.Replace(", )", ")", StringComparison.Ordinal);
            parts.Add(text);
        }
        // XCHG eAX, r (90+r): capstone puts the register of the opcode first; BOUND: the memory operand first.
        if (ins.Code is Code.Xchg_r16_AX or Code.Xchg_r32_EAX || ins.Mnemonic == Iced.Intel.Mnemonic.Bound) parts.Reverse();
        // The reserved-NOP space (0F 18..1F /r): capstone shows the r/m operand only (nopl (%eax)).
        if (ins.Mnemonic == Iced.Intel.Mnemonic.Reservednop && parts.Count == 2) parts.RemoveAt(0);
        // IMUL r, r/m, imm with r/m the same register: capstone writes all three, Iced folds it to two.
        if (ins.Mnemonic == Iced.Intel.Mnemonic.Imul && ins.OpCount == 3 && parts.Count == 2) parts.Add(parts[1]);
        return string.Join(", ", parts);
    }

    /// <summary>capstone's printImm: 0..9 in decimal, larger in hex, negative with a minus sign.</summary>
    private static string Number(long n) =>
        n < 0 ? "-" + Number(-n) : n <= 9 ? n.ToString(CultureInfo.InvariantCulture) : "0x" + n.ToString("x", CultureInfo.InvariantCulture);

    private bool IsEsDi(in Instruction ins, int formatterOperand)
    {
        int op = _suffixed.GetInstructionOperand(ins, formatterOperand);
        return op >= 0 && ins.GetOpKind(op) is OpKind.MemoryESDI or OpKind.MemoryESEDI or OpKind.MemoryESRDI;
    }

    private static bool IsFpuRegisterForm(in Instruction ins)
    {
        if (ins.OpCount == 0) return false;
        for (int i = 0; i < ins.OpCount; i++)
            if (ins.GetOpKind(i) != OpKind.Register || ins.GetOpRegister(i) is < Register.ST0 or > Register.ST7) return false;
        return true;
    }

    /// <summary>
    /// x87 register forms, capstone 4's way: the register other than ST(0) alone (fadd %st(3), faddp %st(1),
    /// fcomi %st(1)), and both only when the destination is ST(i) without a pop (fadd %st(0), %st(3)).
    /// </summary>
    private static string FpuRegisterOperands(in Instruction ins)
    {
        static string St(Register r) => string.Create(CultureInfo.InvariantCulture, $"%st({r - Register.ST0})");
        // FCMOVcc and the aliases of the x87 opcode map (FXCH DD C8+i, DF C8+i; FCOM DC D0+i; FCOMP DC D8+i,
        // DE D0+i): both registers, ST(i) first. The FSTP aliases (D9 D8+i FSTPNCE, DF D0+i, DF D8+i): ST(0) first.
        if (ins.Code is Code.Fstpnce_sti or Code.Fstp_sti_DFD0 or Code.Fstp_sti_DFD8) return $"%st(0), {St(ins.Op0Register)}";
        if (IsFcmov(ins.Mnemonic) || ins.Code is Code.Fxch_st0_sti_DDC8 or Code.Fxch_st0_sti_DFC8 or Code.Fcom_st0_sti_DCD0
                or Code.Fcomp_st0_sti_DCD8 or Code.Fcomp_st0_sti_DED0)
            return ins.OpCount == 1 ? $"{St(ins.Op0Register)}, %st(0)" : $"{St(ins.Op1Register)}, {St(ins.Op0Register)}";
        if (ins.OpCount == 1) return St(ins.Op0Register);
        if (ins.Op0Register == Register.ST0) return St(ins.Op1Register);
        if (ins.Mnemonic.ToString().EndsWith('p')) return St(ins.Op0Register);
        return $"{St(ins.Op1Register)}, {St(ins.Op0Register)}";
    }

    private static bool IsFcmov(Iced.Intel.Mnemonic m) => m.ToString().StartsWith("Fcmov", StringComparison.Ordinal);

    /// <summary>
    /// capstone's immediates: unsigned in the operand's size, except an imm8 the CPU sign-extends (83 /r, 6A, 6B),
    /// which is printed signed unless the instruction is AND, OR or XOR.
    /// </summary>
    private sealed class CapstoneImmediates : IFormatterOptionsProvider
    {
        public void GetOperandOptions(in Instruction instruction, int operand, int instructionOperand, ref FormatterOperandOptions options, ref NumberFormattingOptions numberOptions)
        {
            if (instructionOperand < 0) return;
            var kind = instruction.GetOpKind(instructionOperand);
            bool signExtended = kind is OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64
                && instruction.Mnemonic is not (Iced.Intel.Mnemonic.And or Iced.Intel.Mnemonic.Or or Iced.Intel.Mnemonic.Xor)
                || instruction.Mnemonic == Iced.Intel.Mnemonic.Xabort; // capstone reads XABORT's imm8 as signed
            if (kind is >= OpKind.Immediate8 and <= OpKind.Immediate32to64) numberOptions.SignedNumber = signExtended;
        }
    }
}
