using System.Globalization;
using MiniVM.Cpu;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// The address argument of `x` and `xp`, as QEMU's HMP evaluates it (monitor/hmp.c expr_sum): numbers in C notation
/// (0x hex, leading 0 octal, decimal), the registers $eax ... $eip, $eflags, $cr0..$cr4, segment selectors $cs and
/// their $cs.base/$cs.limit, with + - * / % &amp; | ^, unary minus and parentheses, evaluated in 64 bits.
/// </summary>
public sealed class MonitorExpression
{
    private readonly string _text;
    private readonly X86Cpu _cpu;
    private int _pos;

    private MonitorExpression(string text, X86Cpu cpu) { _text = text; _cpu = cpu; }

    public static long Evaluate(string text, X86Cpu cpu)
    {
        var e = new MonitorExpression(text, cpu);
        e.SkipSpaces();
        if (e.AtEnd) throw new MonitorException("unexpected end of expression");
        long value = e.Sum();
        e.SkipSpaces();
        if (!e.AtEnd) throw new MonitorException($"invalid char '{e._text[e._pos]}' in expression");
        return value;
    }

    private bool AtEnd => _pos >= _text.Length;
    private char Peek => AtEnd ? '\0' : _text[_pos];

    private void SkipSpaces() { while (!AtEnd && char.IsWhiteSpace(_text[_pos])) _pos++; }

    private long Sum()
    {
        long v = Product();
        for (SkipSpaces(); Peek is '+' or '-'; SkipSpaces())
        {
            char op = _text[_pos++];
            long r = Product();
            v = op == '+' ? v + r : v - r;
        }
        return v;
    }

    private long Product()
    {
        long v = Logic();
        for (SkipSpaces(); Peek is '*' or '/' or '%'; SkipSpaces())
        {
            char op = _text[_pos++];
            long r = Logic();
            if (op != '*' && r == 0) throw new MonitorException("division by zero");
            v = op switch { '*' => v * r, '/' => v / r, _ => v % r };
        }
        return v;
    }

    private long Logic()
    {
        long v = Unary();
        for (SkipSpaces(); Peek is '&' or '|' or '^'; SkipSpaces())
        {
            char op = _text[_pos++];
            long r = Unary();
            v = op switch { '&' => v & r, '|' => v | r, _ => v ^ r };
        }
        return v;
    }

    private long Unary()
    {
        SkipSpaces();
        switch (Peek)
        {
            case '+': _pos++; return Unary();
            case '-': _pos++; return -Unary();
            case '(':
            {
                _pos++;
                long v = Sum();
                SkipSpaces();
                if (Peek != ')') throw new MonitorException("')' expected");
                _pos++;
                return v;
            }
            case '$': _pos++; return Register();
            case '\0': throw new MonitorException("unexpected end of expression");
            default: return Number();
        }
    }

    private long Number()
    {
        int start = _pos;
        while (!AtEnd && char.IsAsciiLetterOrDigit(_text[_pos])) _pos++;
        string s = _text[start.._pos];
        if (s.Length == 0) throw new MonitorException($"invalid char '{Peek}' in expression");
        bool ok;
        ulong v;
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            ok = ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
        else if (s.Length > 1 && s[0] == '0')
        {
            v = 0;
            ok = s.All(c => c is >= '0' and <= '7');
            if (ok) foreach (char c in s) v = v * 8 + (ulong)(c - '0');
        }
        else ok = ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        return ok ? (long)v : throw new MonitorException($"invalid number '{s}'");
    }

    private long Register()
    {
        int start = _pos;
        while (!AtEnd && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] is '.' or '_')) _pos++;
        string name = _text[start.._pos].ToLowerInvariant();
        var c = _cpu;
        SegmentCache Seg(SegmentRegister r) => c.GetSegment(r);
        string[] parts = name.Split('.');
        if (parts.Length == 2 && SegmentByName(parts[0]) is { } sr)
            return parts[1] switch
            {
                "base" => Seg(sr).Base,
                "limit" => Seg(sr).Limit,
                _ => throw new MonitorException($"unknown register '{name}'"),
            };
        if (SegmentByName(name) is { } seg) return Seg(seg).Selector;
        return name switch
        {
            "eax" => c.Eax, "ecx" => c.Ecx, "edx" => c.Edx, "ebx" => c.Ebx,
            "esp" or "sp" => c.Esp, "ebp" or "fp" => c.Ebp, "esi" => c.Esi, "edi" => c.Edi,
            "eip" or "pc" => c.Eip, "eflags" => c.Eflags,
            "cr0" => c.Cr0, "cr2" => c.Cr2, "cr3" => c.Cr3, "cr4" => c.Cr4,
            _ => throw new MonitorException($"unknown register '{name}'"),
        };
    }

    private static SegmentRegister? SegmentByName(string name) => name switch
    {
        "es" => SegmentRegister.Es, "cs" => SegmentRegister.Cs, "ss" => SegmentRegister.Ss,
        "ds" => SegmentRegister.Ds, "fs" => SegmentRegister.Fs, "gs" => SegmentRegister.Gs,
        _ => null,
    };
}
