namespace MiniVM.Display.Sdl;

/// <summary>
/// The VGA BIOS's 8×16 character set (code page 437): the glyphs a guest's 80×25 text screen shows, so the monitor
/// view looks like the console it sits beside. Found in the option ROM by its first two glyphs, which every IBM-style
/// VGA BIOS (SeaVGABIOS's vgafont16 included) starts the 8×16 font with.
/// </summary>
public sealed class VgaFont
{
    public const int GlyphWidth = 8;
    public const int GlyphHeight = 16;
    private const int Size = 256 * GlyphHeight;

    private readonly byte[] _glyphs;

    private VgaFont(byte[] glyphs) => _glyphs = glyphs;

    /// <summary>Glyph 0 (blank) and glyph 1 (☺) of the IBM VGA 8×16 font.</summary>
    private static ReadOnlySpan<byte> FontStart =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x7E, 0x81, 0xA5, 0x81, 0x81, 0xBD, 0x99, 0x81, 0x81, 0x7E, 0x00, 0x00, 0x00, 0x00,
    ];

    /// <summary>The 8×16 font inside a VGA option ROM, or null when the ROM carries none that we recognise.</summary>
    public static VgaFont? FromOptionRom(ReadOnlySpan<byte> rom)
    {
        int at = rom.IndexOf(FontStart);
        return at < 0 || rom.Length - at < Size ? null : new VgaFont(rom.Slice(at, Size).ToArray());
    }

    /// <summary>Scan line <paramref name="line"/> (0..15) of character <paramref name="code"/>: bit 7 is the leftmost dot.</summary>
    public byte Row(byte code, int line) => _glyphs[code * GlyphHeight + line];
}
