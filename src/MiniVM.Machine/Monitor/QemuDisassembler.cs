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

    /// <summary>The text of <paramref name="ins"/> decoded at <paramref name="address"/> from <paramref name="bytes"/>.</summary>
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
        var output = new StringOutput();
        // capstone adds no size suffix to these (enter, leave, loop*, setcc, fldcw); Iced's GAS spelling does.
        (Unsuffixed(ins) ? _plain : _suffixed).FormatMnemonic(ins, output);
        return output.ToStringAndReset();
    }

    private static bool Unsuffixed(in Instruction ins) => ins.Mnemonic switch
    {
        Iced.Intel.Mnemonic.Enter or Iced.Intel.Mnemonic.Leave or Iced.Intel.Mnemonic.Loop or Iced.Intel.Mnemonic.Loope
            or Iced.Intel.Mnemonic.Loopne or Iced.Intel.Mnemonic.Fldcw => true,
        _ => IsSetcc(ins.Mnemonic),
    };

    private static bool IsSetcc(Iced.Intel.Mnemonic m) =>
        m != Iced.Intel.Mnemonic.Setssbsy && m.ToString().StartsWith("Set", StringComparison.Ordinal);

    private string Operands(in Instruction ins)
    {
        if (IsFpuRegisterForm(ins)) return FpuRegisterOperands(ins);
        if (ins.Code is Code.Xlat_m8) return "";
        if (ins.Op0Kind is OpKind.FarBranch16 or OpKind.FarBranch32)
        {
            uint offset = ins.Op0Kind == OpKind.FarBranch16 ? ins.FarBranch16 : ins.FarBranch32;
            return string.Create(CultureInfo.InvariantCulture, $"$0x{ins.FarBranchSelector:x}:$0x{offset:x}");
        }
        // ENTER: capstone reads the frame size as a signed word.
        if (ins.Mnemonic == Iced.Intel.Mnemonic.Enter) return $"${Number((short)ins.Immediate16)}, ${Number(ins.Immediate8_2nd)}";
        var parts = new List<string>();
        var output = new StringOutput();
        int count = _suffixed.GetOperandCount(ins);
        for (int i = 0; i < count; i++)
        {
            _suffixed.FormatOperand(ins, output, i);
            string text = output.ToStringAndReset();
            // The string instructions' ES:(E)DI operand: capstone names its fixed segment.
            if (IsEsDi(ins, i)) text = "%es:" + text;
            parts.Add(text);
        }
        // XCHG eAX, r (90+r): capstone puts the register of the opcode first.
        if (ins.Code is Code.Xchg_r16_AX or Code.Xchg_r32_EAX) parts.Reverse();
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
        if (ins.OpCount == 1) return St(ins.Op0Register);
        if (ins.Op0Register == Register.ST0) return St(ins.Op1Register);
        if (ins.Mnemonic.ToString().EndsWith('p')) return St(ins.Op0Register);
        return $"{St(ins.Op1Register)}, {St(ins.Op0Register)}";
    }

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
                && instruction.Mnemonic is not (Iced.Intel.Mnemonic.And or Iced.Intel.Mnemonic.Or or Iced.Intel.Mnemonic.Xor);
            if (kind is >= OpKind.Immediate8 and <= OpKind.Immediate32to64) numberOptions.SignedNumber = signExtended;
        }
    }
}
