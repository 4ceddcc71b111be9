using System.Globalization;
using System.Text;
using Iced.Intel;
using MiniVM.Cpu;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// `x /FMT ADDR` (linear addresses, through the guest's page tables) and `xp /FMT ADDR` (physical addresses), with
/// QEMU's format: /COUNT FORMAT SIZE, format x (hex), d (signed), u (unsigned), o (octal), c (characters) or
/// i (instructions), size b, h, w or g (1, 2, 4, 8 bytes). Format and size stick from one command to the next, as
/// in QEMU (monitor_memory_dump, memory_dump). Only memory-backed pages are read (RAM, ROM), so a dump never
/// touches a device; anything else is "Cannot access memory", as QEMU says for an address it cannot read.
/// </summary>
public sealed class MemoryDump(PcMachine machine)
{
    /// <summary>The most units one command dumps (QEMU has no limit; this keeps an answer to a few MiB of text).</summary>
    public const int MaxCount = 65536;

    private char _format = 'x';
    private int _size = 4;
    private readonly QemuDisassembler _disassembler = new();

    /// <param name="args">The text after the command name: an optional "/FMT" then the address expression.</param>
    public string Run(string args, bool physical)
    {
        string rest = args.TrimStart();
        int count = 1;
        char format = _format;
        int size = -1;
        if (rest.StartsWith('/'))
        {
            int p = 1;
            if (p < rest.Length && char.IsAsciiDigit(rest[p]))
            {
                long n = 0;
                while (p < rest.Length && char.IsAsciiDigit(rest[p])) { n = Math.Min(n * 10 + (rest[p] - '0'), int.MaxValue); p++; }
                count = (int)n;
            }
            for (; p < rest.Length && !char.IsWhiteSpace(rest[p]); p++)
            {
                char c = rest[p];
                switch (c)
                {
                    case 'o' or 'd' or 'u' or 'x' or 'i' or 'c': format = c; break;
                    case 'b': size = 1; break;
                    case 'h': size = 2; break;
                    case 'w': size = 4; break;
                    case 'g' or 'L': size = 8; break;
                    default: throw new MonitorException($"invalid char in format: '{c}'");
                }
            }
            rest = rest[p..];
        }
        if (count > MaxCount) throw new MonitorException($"count {count} is more than {MaxCount}");
        long address = MonitorExpression.Evaluate(rest, machine.Cpu);
        if (format != 'i')
        {
            if (size < 0) size = _size;
            _size = size;
        }
        _format = format;
        return format == 'i' ? Disassemble(count, address, physical) : Dump(count, format, size, address, physical);
    }

    private string Dump(int count, char format, int wordSize, long address, bool physical)
    {
        int length = wordSize * count;
        int lineSize = wordSize == 1 ? 8 : 16;
        int digits = format switch
        {
            'o' => (wordSize * 8 + 2) / 3,
            'u' or 'd' => (wordSize * 8 * 10 + 32) / 33,
            _ => wordSize * 8 / 4,
        };
        if (format == 'c') wordSize = 1; // QEMU keeps the length and line size of the size given, then prints bytes
        var sb = new StringBuilder();
        Span<byte> buffer = stackalloc byte[16];
        ulong a = physical ? (ulong)address : (uint)address;
        while (length > 0)
        {
            sb.Append(physical ? Hex(a, 16) : Hex(a, 8)).Append(':');
            int l = Math.Min(length, lineSize);
            if (!TryRead(a, buffer[..l], physical)) { sb.Append(" Cannot access memory\n"); break; }
            for (int i = 0; i < l; i += wordSize)
            {
                ulong v = 0;
                for (int k = wordSize - 1; k >= 0; k--) v = (v << 8) | buffer[i + k];
                sb.Append(' ');
                switch (format)
                {
                    case 'o': sb.Append((v == 0 ? "0" : "0" + Octal(v)).PadLeft(digits)); break;
                    case 'u': sb.Append(v.ToString(CultureInfo.InvariantCulture).PadLeft(digits)); break;
                    case 'd': sb.Append(((long)v).ToString(CultureInfo.InvariantCulture).PadLeft(digits)); break;
                    case 'c': sb.Append(Character((byte)v)); break;
                    default: sb.Append("0x").Append(Hex(v, digits)); break;
                }
            }
            sb.Append('\n');
            a += (ulong)l;
            length -= l;
        }
        return sb.ToString().TrimEnd('\n');
    }

    /// <summary>`x /Ni`: N instructions decoded in the CPU's current code size, spelt as QEMU 7.2 prints them.</summary>
    private string Disassemble(int count, long address, bool physical)
    {
        var cpu = machine.Cpu;
        int bitness = cpu.ProtectedMode && !cpu.Virtual8086Mode && cpu.GetSegment(SegmentRegister.Cs).Big ? 32 : 16;
        var sb = new StringBuilder();
        ulong a = physical ? (ulong)address : (uint)address;
        byte[] code = new byte[15];
        for (int n = 0; n < count; n++)
        {
            int available = 0;
            while (available < code.Length && TryRead(a + (ulong)available, code.AsSpan(available, 1), physical)) available++;
            var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(code, 0, available));
            decoder.IP = a;
            decoder.Decode(out var ins);
            // QEMU's words when the instruction's bytes (or its first) cannot be read, and the dump ends there.
            if (available == 0 || decoder.LastError == DecoderError.NoMoreBytes) { sb.Append(CultureInfo.InvariantCulture, $"0x{Hex(a, 8)}: unable to read memory\n"); break; }
            if (ins.IsInvalid) { sb.Append(QemuDisassembler.Invalid(a, code[0])).Append('\n'); a++; continue; }
            int length = QemuDisassembler.Length(ins);
            sb.Append(_disassembler.Line(a, code.AsSpan(0, length), ins)).Append('\n');
            a += (ulong)length;
        }
        return sb.ToString().TrimEnd('\n');
    }

    /// <summary>Reads whole or not at all: every byte's page must translate (x) and be RAM or ROM.</summary>
    private bool TryRead(ulong address, Span<byte> destination, bool physical)
    {
        var cpu = machine.Cpu;
        var memory = machine.Memory;
        for (int i = 0; i < destination.Length; i++)
        {
            ulong p;
            if (physical) p = address + (ulong)i;
            else
            {
                if (!cpu.TryTranslateQuiet((uint)(address + (ulong)i), out uint phys)) return false;
                p = phys;
            }
            if (!memory.IsMemoryBacked(p)) return false;
            memory.Read(p, destination.Slice(i, 1));
        }
        return true;
    }

    private static string Hex(ulong v, int digits) => v.ToString("x" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Octal(ulong v)
    {
        var s = new StringBuilder();
        for (; v != 0; v >>= 3) s.Insert(0, (char)('0' + (int)(v & 7)));
        return s.ToString();
    }

    /// <summary>monitor_printc: quoted, with C escapes for quote, backslash, LF, CR and \xNN for the unprintable.</summary>
    private static string Character(byte c) => c switch
    {
        (byte)'\'' => "'\\''",
        (byte)'\\' => "'\\\\'",
        (byte)'\n' => "'\\n'",
        (byte)'\r' => "'\\r'",
        >= 32 and <= 126 => $"'{(char)c}'",
        _ => $"'\\x{c:x2}'",
    };
}
