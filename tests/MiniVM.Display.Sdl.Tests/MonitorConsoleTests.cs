using MiniVM.Devices;
using MiniVM.Machine.Monitor;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>The window's monitor console: what text it shows (scrollback, prompt, wrapping) and the pixels it draws.</summary>
public sealed class MonitorConsoleTests
{
    private static void Type(MonitorConsole console, params PcKey[] keys)
    {
        foreach (var k in keys)
        {
            console.Input.Key(k, down: true);
            console.Input.Key(k, down: false);
        }
    }

    [Fact]
    public void CommandsAndAnswersFollowTheBannerAndThePromptWaitsForTheAnswer()
    {
        var console = new MonitorConsole();
        Assert.Equal([HumanMonitor.Banner, "(minivm) "], console.Screen()[..2]);
        Type(console, PcKey.S, PcKey.T);
        Assert.Equal("(minivm) st", console.Screen()[1]);

        console.Submit("info status");
        var running = console.Screen();
        Assert.Equal("(minivm) info status", running[1]);
        Assert.Equal("", running[2]); // no prompt while the command runs on the machine thread
        console.Answer("VM status: running");
        Assert.Equal([HumanMonitor.Banner, "(minivm) info status", "VM status: running", "(minivm) st", ""], console.Screen()[..5]);

        console.Submit("stop");
        console.Answer(""); // commands that answer nothing add no line
        Assert.Equal(["(minivm) stop", "(minivm) st"], console.Screen()[3..5]);
    }

    [Fact]
    public void LongAnswersWrapAtEightyColumnsAndTheScreenScrollsToTheNewestLine()
    {
        var console = new MonitorConsole();
        console.Submit("info snapshots");
        console.Answer(new string('x', 100) + "\r\nend");
        var wrapped = console.Screen();
        Assert.Equal(new string('x', 80), wrapped[2]);
        Assert.Equal(new string('x', 20), wrapped[3]);
        Assert.Equal("end", wrapped[4]);

        for (int i = 0; i < 40; i++)
        {
            console.Submit("info status");
            console.Answer($"answer {i}");
        }
        var screen = console.Screen();
        Assert.Equal(MonitorConsole.Rows, screen.Length);
        Assert.Equal("(minivm) ", screen[^1]);
        Assert.Equal("answer 39", screen[^2]);
        Assert.Equal("(minivm) info status", screen[^3]);
        Assert.Equal(["(minivm) info status", "answer 28"], screen[..2]); // 12 commands and answers above the prompt
    }

    [Fact]
    public void ScrollbackIsBounded()
    {
        var console = new MonitorConsole();
        console.Submit("help");
        console.Answer(string.Join('\n', Enumerable.Range(0, MonitorConsole.MaxLines + 500).Select(i => $"line {i}")));
        Assert.Equal(MonitorConsole.MaxLines, console.ScrollbackLines);
        Assert.Equal($"line {MonitorConsole.MaxLines + 499}", console.Screen()[^2]);
    }

    /// <summary>A ROM holding the 8×16 font's first two glyphs, then glyphs whose every scan line is the character code.</summary>
    private static byte[] CodeFontRom()
    {
        var rom = new byte[512 + 4096];
        rom[0] = 0x55;
        rom[1] = 0xAA;
        byte[] smiley = [0x00, 0x00, 0x7E, 0x81, 0xA5, 0x81, 0x81, 0xBD, 0x99, 0x81, 0x81, 0x7E, 0x00, 0x00, 0x00, 0x00];
        smiley.CopyTo(rom, 512 + 16);
        for (int c = 2; c < 256; c++) rom.AsSpan(512 + c * 16, 16).Fill((byte)c);
        return rom;
    }

    [Fact]
    public void PixelsAreTheFontsGlyphsInConsoleColoursWithTheCursorAfterThePrompt()
    {
        var font = VgaFont.FromOptionRom(CodeFontRom())!;
        Assert.Equal(0x7E, font.Row(1, 2));
        var console = new MonitorConsole();
        console.Submit("info status");
        console.Answer("caf\u00e9");
        var px = console.Render(font, cursorVisible: true).ToArray();
        Assert.Equal(MonitorConsole.Width * MonitorConsole.Height, px.Length);

        // Scan line 0 of each cell spells its character code (CP437: é is 0x82), one bit per pixel, bit 7 leftmost.
        string RowText(int row)
        {
            var chars = new char[MonitorConsole.Columns];
            for (int col = 0; col < chars.Length; col++)
            {
                int code = 0;
                for (int k = 0; k < 8; k++)
                {
                    uint p = px[row * 16 * MonitorConsole.Width + col * 8 + k];
                    Assert.True(p is MonitorConsole.Foreground or MonitorConsole.Background, $"pixel {p:X8}");
                    code = (code << 1) | (p == MonitorConsole.Foreground ? 1 : 0);
                }
                chars[col] = code == 0x82 ? 'é' : (char)code;
            }
            return new string(chars).TrimEnd();
        }
        Assert.Equal(HumanMonitor.Banner, RowText(0));
        Assert.Equal("(minivm) info status", RowText(1));
        Assert.Equal("café", RowText(2));
        Assert.Equal("(minivm)", RowText(3));

        // The cursor: scan lines 14 and 15 of the cell after "(minivm) " are solid, and only with cursorVisible.
        int cursorCell = 3 * 16 * MonitorConsole.Width + 9 * 8;
        Assert.All(Enumerable.Range(0, 8), k => Assert.Equal(MonitorConsole.Foreground, px[cursorCell + 15 * MonitorConsole.Width + k]));
        Assert.Equal(MonitorConsole.Background, px[cursorCell + 13 * MonitorConsole.Width]);
        var blinked = console.Render(font, cursorVisible: false);
        Assert.Equal(MonitorConsole.Background, blinked[cursorCell + 15 * MonitorConsole.Width]);
    }

    [Fact]
    public void ARomWithoutTheFontGivesNoFont()
    {
        var rom = CodeFontRom();
        rom[512 + 16 + 2] = 0x7F; // the smiley's first dotted line changed
        Assert.Null(VgaFont.FromOptionRom(rom));
        Assert.Null(VgaFont.FromOptionRom(CodeFontRom().AsSpan(0, 512 + 1000))); // font cut short
    }
}
