using MiniVM.Devices;

namespace MiniVM.Cli;

/// <summary>What the user asked for with the Ctrl+A prefix (QEMU's -nographic escape key).</summary>
public enum TerminalCommand { None, Quit, Monitor }

/// <summary>One key typed on the terminal, as PC keys: a main key with the modifiers held around it.</summary>
public readonly record struct TerminalKey(PcKey Key, bool Shift = false, bool Ctrl = false, bool Alt = false);

/// <summary>
/// Turns the bytes a terminal in raw mode sends into PC key strokes: printable ASCII on a US layout, control
/// characters as Ctrl+letter, and the ANSI/xterm escape sequences of the cursor, editing and function keys
/// (`ESC [ A`, `ESC O P`, `ESC [ 15~`, with xterm's `;2`..`;8` modifier parameter). Ctrl+A starts a command:
/// Ctrl+A x quits, Ctrl+A c opens the monitor, Ctrl+A Ctrl+A types Ctrl+A.
/// </summary>
public sealed class TerminalKeys
{
    private const byte Escape = 0x1B, CtrlA = 0x01;
    private bool _commandPrefix;

    /// <summary>Parses one read's worth of bytes (an escape sequence arrives in a single read, as terminals send them).</summary>
    public TerminalCommand Parse(ReadOnlySpan<byte> input, List<TerminalKey> keys)
    {
        for (int i = 0; i < input.Length; i++)
        {
            byte b = input[i];
            if (_commandPrefix)
            {
                _commandPrefix = false;
                switch (b)
                {
                    case (byte)'x' or (byte)'X': return TerminalCommand.Quit;
                    case (byte)'c' or (byte)'C': return TerminalCommand.Monitor;
                    case CtrlA: keys.Add(new TerminalKey(PcKey.A, Ctrl: true)); break;
                }
                continue;
            }
            if (b == CtrlA) { _commandPrefix = true; continue; }
            if (b == Escape && i + 1 < input.Length)
            {
                i += ParseEscape(input[(i + 1)..], keys);
                continue;
            }
            if (FromByte(b) is { } key) keys.Add(key);
        }
        return TerminalCommand.None;
    }

    /// <summary>A single byte: ASCII, Enter, Backspace (DEL or BS), Tab, Escape or a control character.</summary>
    private static TerminalKey? FromByte(byte b)
    {
        switch (b)
        {
            case (byte)'\r' or (byte)'\n': return new TerminalKey(PcKey.Enter);
            case 0x7F or 0x08: return new TerminalKey(PcKey.Backspace);
            case (byte)'\t': return new TerminalKey(PcKey.Tab);
            case Escape: return new TerminalKey(PcKey.Escape);
            case 0: return new TerminalKey(PcKey.Space, Ctrl: true);
        }
        if (b is >= 1 and <= 26) return new TerminalKey(Letters[b - 1], Ctrl: true);
        if (b >= 0x80) return null; // UTF-8 beyond ASCII: no key on a US PC keyboard
        return Ps2Keyboard.TryMapChar((char)b, out var key, out bool shift) ? new TerminalKey(key, shift) : null;
    }

    /// <summary>The bytes after an ESC; returns how many it used.</summary>
    private static int ParseEscape(ReadOnlySpan<byte> s, List<TerminalKey> keys)
    {
        if (s[0] is (byte)'[' or (byte)'O' && s.Length > 1)
        {
            bool ss3 = s[0] == 'O';
            int j = 1, first = 0, modifier = 1;
            while (j < s.Length && s[j] is >= (byte)'0' and <= (byte)'9') first = first * 10 + (s[j++] - '0');
            if (j < s.Length && s[j] == ';')
            {
                j++;
                modifier = 0;
                while (j < s.Length && s[j] is >= (byte)'0' and <= (byte)'9') modifier = modifier * 10 + (s[j++] - '0');
            }
            if (j >= s.Length) return s.Length;
            byte final = s[j];
            PcKey? key = final switch
            {
                (byte)'A' => PcKey.Up, (byte)'B' => PcKey.Down, (byte)'C' => PcKey.Right, (byte)'D' => PcKey.Left,
                (byte)'H' => PcKey.Home, (byte)'F' => PcKey.End,
                (byte)'P' => PcKey.F1, (byte)'Q' => PcKey.F2, (byte)'R' => PcKey.F3, (byte)'S' => PcKey.F4,
                (byte)'~' => Tilde(first),
                _ => null,
            };
            if (!ss3 || final is not (byte)'~')
            {
                if (key is { } k)
                {
                    // xterm: parameter = 1 + (1 shift, 2 alt, 4 ctrl).
                    int m = Math.Max(0, modifier - 1);
                    keys.Add(new TerminalKey(k, Shift: (m & 1) != 0, Alt: (m & 2) != 0, Ctrl: (m & 4) != 0));
                }
            }
            return j + 1;
        }
        // ESC then a character: Alt+character, as terminals send Meta.
        if (FromByte(s[0]) is { } alt) keys.Add(alt with { Alt = true });
        return 1;
    }

    private static PcKey? Tilde(int code) => code switch
    {
        1 or 7 => PcKey.Home, 2 => PcKey.Insert, 3 => PcKey.Delete, 4 or 8 => PcKey.End, 5 => PcKey.PageUp, 6 => PcKey.PageDown,
        11 => PcKey.F1, 12 => PcKey.F2, 13 => PcKey.F3, 14 => PcKey.F4, 15 => PcKey.F5, 17 => PcKey.F6, 18 => PcKey.F7,
        19 => PcKey.F8, 20 => PcKey.F9, 21 => PcKey.F10, 23 => PcKey.F11, 24 => PcKey.F12,
        _ => null,
    };

    private static readonly PcKey[] Letters =
    [
        PcKey.A, PcKey.B, PcKey.C, PcKey.D, PcKey.E, PcKey.F, PcKey.G, PcKey.H, PcKey.I, PcKey.J, PcKey.K, PcKey.L, PcKey.M,
        PcKey.N, PcKey.O, PcKey.P, PcKey.Q, PcKey.R, PcKey.S, PcKey.T, PcKey.U, PcKey.V, PcKey.W, PcKey.X, PcKey.Y, PcKey.Z,
    ];
}
