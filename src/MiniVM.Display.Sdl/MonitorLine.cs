using System.Text;
using MiniVM.Devices;

namespace MiniVM.Display.Sdl;

/// <summary>
/// The command line of the window's monitor view (Ctrl+Alt+2): PC keys typed on a US layout become text; Enter
/// hands the line over. The window shows it in its title bar, the answer's first line after it.
/// </summary>
public sealed class MonitorLine
{
    private const int MaxLength = 200;
    private const string Plain = "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./ ";
    private const string Shifted = "~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:\"ZXCVBNM<>? ";
    private static readonly PcKey[] Keys =
    [
        PcKey.Backquote, PcKey.D1, PcKey.D2, PcKey.D3, PcKey.D4, PcKey.D5, PcKey.D6, PcKey.D7, PcKey.D8, PcKey.D9, PcKey.D0,
        PcKey.Minus, PcKey.Equals, PcKey.Q, PcKey.W, PcKey.E, PcKey.R, PcKey.T, PcKey.Y, PcKey.U, PcKey.I, PcKey.O, PcKey.P,
        PcKey.LeftBracket, PcKey.RightBracket, PcKey.Backslash, PcKey.A, PcKey.S, PcKey.D, PcKey.F, PcKey.G, PcKey.H, PcKey.J,
        PcKey.K, PcKey.L, PcKey.Semicolon, PcKey.Apostrophe, PcKey.Z, PcKey.X, PcKey.C, PcKey.V, PcKey.B, PcKey.N, PcKey.M,
        PcKey.Comma, PcKey.Period, PcKey.Slash, PcKey.Space,
    ];

    private readonly StringBuilder _text = new();
    private bool _leftShift, _rightShift;

    public string Text => _text.ToString();

    /// <summary>Feeds one key event; returns the finished line when Enter went down (the line is then empty again).</summary>
    public string? Key(PcKey key, bool down)
    {
        switch (key)
        {
            case PcKey.LeftShift: _leftShift = down; return null;
            case PcKey.RightShift: _rightShift = down; return null;
        }
        if (!down) return null;
        switch (key)
        {
            case PcKey.Enter or PcKey.KeypadEnter:
                string line = _text.ToString();
                _text.Clear();
                return line;
            case PcKey.Backspace:
                if (_text.Length > 0) _text.Length--;
                return null;
        }
        int i = Array.IndexOf(Keys, key);
        if (i >= 0 && _text.Length < MaxLength) _text.Append((_leftShift || _rightShift ? Shifted : Plain)[i]);
        return null;
    }
}
