using MiniVM.Devices.Vga;
using MiniVM.Machine.Monitor;

namespace MiniVM.Display.Sdl;

/// <summary>
/// The window's monitor view (Ctrl+Alt+2) as QEMU shows its monitor: an 80×25 text console with the banner, every
/// command after its prompt, the answers, and the line being typed after a fresh prompt, scrolled so the newest line
/// is at the bottom. Commands run on the machine thread: <see cref="Submit"/> comes from the window's thread,
/// <see cref="Answer"/> from the machine thread; the prompt comes back once every submitted command has answered.
/// </summary>
public sealed class MonitorConsole
{
    public const int Columns = 80;
    public const int Rows = 25;
    public const int Width = Columns * VgaFont.GlyphWidth;
    public const int Height = Rows * VgaFont.GlyphHeight;
    /// <summary>Scrollback kept: enough for a session of `info snapshots`, bounded so a long run cannot grow it.</summary>
    public const int MaxLines = 1000;
    /// <summary>VGA attribute 07: light grey on black, the colours of a text console.</summary>
    public const uint Foreground = 0xFFAAAAAA;
    public const uint Background = 0xFF000000;
    /// <summary>The VGA text cursor's default shape: scan lines 14 and 15 of the cell.</summary>
    private const int CursorFirstLine = 14;

    private static readonly Dictionary<char, byte> CodePage = BuildCodePage();

    private readonly object _lock = new();
    private readonly List<string> _lines = [];
    private readonly uint[] _pixels = new uint[Width * Height];
    private int _pending;

    public MonitorConsole() => AddLines(HumanMonitor.Banner);

    /// <summary>Lines of scrollback kept (at most <see cref="MaxLines"/>).</summary>
    public int ScrollbackLines
    {
        get { lock (_lock) return _lines.Count; }
    }

    /// <summary>The command line being typed (window thread only).</summary>
    public MonitorLine Input { get; } = new();

    /// <summary>A command line handed to the machine thread: shown after its prompt; the prompt waits for its answer.</summary>
    public void Submit(string line)
    {
        lock (_lock)
        {
            AddLines(HumanMonitor.Prompt + line);
            _pending++;
        }
    }

    /// <summary>The answer of a submitted command (empty for commands that answer nothing), from any thread.</summary>
    public void Answer(string answer)
    {
        lock (_lock)
        {
            if (answer.Length > 0) AddLines(answer);
            if (_pending > 0) _pending--;
        }
    }

    /// <summary>The <see cref="Rows"/> lines of text on the screen now, top to bottom, each at most <see cref="Columns"/> characters.</summary>
    public string[] Screen()
    {
        var screen = new string[Rows];
        lock (_lock) Fill(screen, out _, out _);
        return screen;
    }

    /// <summary>
    /// Draws the screen with <paramref name="font"/>: <see cref="Width"/> × <see cref="Height"/> ARGB pixels, valid
    /// until the next call. The cursor (a VGA underline cursor after the typed text) shows when
    /// <paramref name="cursorVisible"/> and no command is still running.
    /// </summary>
    public ReadOnlySpan<uint> Render(VgaFont font, bool cursorVisible)
    {
        var screen = new string[Rows];
        int cursorRow, cursorColumn;
        lock (_lock) Fill(screen, out cursorRow, out cursorColumn);
        var px = _pixels.AsSpan();
        for (int row = 0; row < Rows; row++)
        {
            string text = screen[row];
            for (int col = 0; col < Columns; col++)
            {
                byte code = col < text.Length ? CodeOf(text[col]) : (byte)' ';
                bool cursor = cursorVisible && row == cursorRow && col == cursorColumn;
                int dst = row * VgaFont.GlyphHeight * Width + col * VgaFont.GlyphWidth;
                for (int line = 0; line < VgaFont.GlyphHeight; line++, dst += Width)
                {
                    int bits = cursor && line >= CursorFirstLine ? 0xFF : font.Row(code, line);
                    for (int k = 0; k < VgaFont.GlyphWidth; k++)
                        px[dst + k] = (bits & (0x80 >> k)) != 0 ? Foreground : Background;
                }
            }
        }
        return px;
    }

    /// <summary>The last rows of scrollback plus the input line (while no command runs); the cursor's cell or -1.</summary>
    private void Fill(string[] screen, out int cursorRow, out int cursorColumn)
    {
        var input = new List<string>();
        cursorRow = cursorColumn = -1;
        if (_pending == 0)
        {
            string typed = HumanMonitor.Prompt + Input.Text;
            Wrap(typed, input);
            // The cursor sits after the last character, on the next row when the line exactly fills its last one.
            if (typed.Length % Columns == 0) input.Add("");
        }
        // A short history fills the screen from the top, as a fresh console does; a long one scrolls.
        var shown = new List<string>(Rows);
        for (int i = _lines.Count - Math.Min(_lines.Count, Rows - input.Count); i < _lines.Count; i++) shown.Add(_lines[i]);
        shown.AddRange(input);
        for (int r = 0; r < Rows; r++) screen[r] = r < shown.Count ? shown[r] : "";
        if (input.Count > 0)
        {
            cursorRow = shown.Count - 1;
            cursorColumn = shown[^1].Length;
        }
    }

    private void AddLines(string text)
    {
        foreach (var line in text.Replace("\r", "").Split('\n')) Wrap(line, _lines);
        if (_lines.Count > MaxLines) _lines.RemoveRange(0, _lines.Count - MaxLines);
    }

    private static void Wrap(string line, List<string> into)
    {
        if (line.Length == 0) { into.Add(""); return; }
        for (int i = 0; i < line.Length; i += Columns) into.Add(line.Substring(i, Math.Min(Columns, line.Length - i)));
    }

    private static byte CodeOf(char c) => c is >= ' ' and < '\x7F' ? (byte)c : CodePage.GetValueOrDefault(c, (byte)'?');

    private static Dictionary<char, byte> BuildCodePage()
    {
        var map = new Dictionary<char, byte>();
        for (int b = 1; b < 256; b++) map.TryAdd(Cp437.ToChar((byte)b), (byte)b);
        return map;
    }
}
