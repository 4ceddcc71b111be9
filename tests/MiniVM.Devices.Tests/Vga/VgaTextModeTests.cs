using MiniVM.Devices.Vga;
using static MiniVM.Devices.Tests.Vga.StdVgaModes;

namespace MiniVM.Devices.Tests.Vga;

public class VgaTextModeTests
{
    private const ulong TextWindow = 0xB8000 - VgaDevice.WindowBase;
    private const uint White = 0xFFFFFFFF;         // EGA 0x3F
    private const uint Blue = 0xFF0000AA;          // EGA 0x01
    private const uint LightGrey = 0xFFAAAAAA;     // EGA 0x07
    private const uint Black = 0xFF000000;

    internal static VgaDevice Mode3()
    {
        var vga = new VgaDevice();
        Setup(vga);
        SetMode(vga, 3);
        LoadEgaPalette(vga);
        LoadFont(vga, TestFont(), 16);
        return vga;
    }

    internal static void Put(VgaDevice vga, int col, int row, string text, byte attr)
    {
        for (int i = 0; i < text.Length; i++)
            vga.WriteMmio(TextWindow + (ulong)((row * 80 + col + i) * 2), 2, (uint)(attr << 8 | text[i]));
    }

    private static void PutCode(VgaDevice vga, int col, int row, byte code, byte attr) =>
        vga.WriteMmio(TextWindow + (ulong)((row * 80 + col) * 2), 2, (uint)(attr << 8 | code));

    [Fact]
    public void Mode3_renders_80x25_cells_of_9x16_dots()
    {
        var vga = Mode3();
        var fb = vga.Render();
        Assert.True(vga.IsTextMode);
        Assert.Equal(720, fb.Width);
        Assert.Equal(400, fb.Height);
    }

    [Fact]
    public void Character_dots_come_from_the_plane_2_font_in_attribute_colours()
    {
        var vga = Mode3();
        Put(vga, 0, 0, "H", 0x1F); // 'H' = 0x48 = 01001000: dots 1 and 4 lit on glyph rows 2..13
        vga.Out(0x3D4, 0x0A); vga.Out(0x3D5, 0x20); // the cursor sits on this cell after a mode set: hide it
        var fb = vga.Render();
        Assert.Equal(Blue, fb[0, 0]);
        Assert.Equal(Blue, fb[0, 2]);
        Assert.Equal(White, fb[1, 2]);
        Assert.Equal(Blue, fb[2, 2]);
        Assert.Equal(White, fb[4, 2]);
        Assert.Equal(White, fb[4, 13]);
        Assert.Equal(Blue, fb[4, 14]);
        Assert.Equal(Blue, fb[8, 2]); // ninth dot of an ordinary character is background
    }

    [Fact]
    public void Ninth_dot_repeats_the_eighth_only_for_line_graphics_characters()
    {
        var vga = Mode3();
        PutCode(vga, 0, 0, 0xC1, 0x07); // 11000001: in C0..DF, last dot lit
        PutCode(vga, 1, 0, 0xB1, 0x07); // 10110001: outside, last dot lit
        var fb = vga.Render();
        Assert.Equal(LightGrey, fb[7, 5]);
        Assert.Equal(LightGrey, fb[8, 5]);
        Assert.Equal(LightGrey, fb[9 + 7, 5]);
        Assert.Equal(Black, fb[9 + 8, 5]);
    }

    [Fact]
    public void Blink_enabled_takes_bit_7_away_from_the_background()
    {
        var vga = Mode3();
        PutCode(vga, 0, 0, 0x20, 0x97); // blink + background 1 (blue), not 9
        Assert.Equal(Blue, vga.Render()[3, 3]);

        vga.In(0x3DA);
        vga.Out(0x3C0, 0x30); vga.Out(0x3C0, 0x04); // AR10 without blink (index | 0x20 keeps the screen on)
        var (r, g, b) = EgaColour(0x39);            // AR9 of mode 3
        Assert.Equal(Argb(r, g, b), vga.Render()[3, 3]);
    }

    [Fact]
    public void Blink_phase_hides_the_cursor_and_blinking_characters_only()
    {
        var vga = Mode3();
        PutCode(vga, 0, 0, 0xDB, 0x87);  // blinking full block
        PutCode(vga, 1, 0, 0xDB, 0x07);
        vga.Out(0x3D4, 0x0F); vga.Out(0x3D5, 2);
        PutCode(vga, 2, 0, 0x20, 0x07);
        vga.BlinkVisible = false;
        var fb = vga.Render();
        Assert.Equal(Black, fb[3, 3]);
        Assert.Equal(LightGrey, fb[9 + 3, 3]);
        Assert.Equal(Black, fb[18 + 3, 13]);
        vga.BlinkVisible = true;
        fb = vga.Render();
        Assert.Equal(LightGrey, fb[3, 3]);
        Assert.Equal(LightGrey, fb[18 + 3, 13]);
    }

    [Fact]
    public void Mode1_is_40_columns_of_9_dots()
    {
        var vga = new VgaDevice();
        Setup(vga);
        SetMode(vga, 1);
        LoadEgaPalette(vga);
        LoadFont(vga, TestFont(), 16);
        vga.WriteMmio(TextWindow + 39 * 2, 2, 0x07DB);
        vga.WriteMmio(TextWindow + 40 * 2, 2, 0x0741); // first cell of the second row
        var fb = vga.Render();
        Assert.Equal((360, 400), (fb.Width, fb.Height));
        Assert.Equal(LightGrey, fb[39 * 9, 0]);
        Assert.Equal("" + new string(' ', 39) + "█\nA\n", string.Join("", vga.DumpText().Split('\n').Take(2).Select(l => l + "\n")));
    }

    [Fact]
    public void Mode7_is_monochrome_text_at_B0000_with_underline()
    {
        var vga = new VgaDevice();
        Setup(vga);
        SetMode(vga, 7);
        vga.Out(0x3C8, 0);
        for (int i = 0; i < 64; i++)
        {
            byte v = (i & 0x18) switch { 0x08 or 0x18 => 0x2a, _ => 0 }; // palette0: 0x2A grey at 0x08-0x0F and 0x18-0x1F
            if (i >= 0x10 && (i & 0x0F) >= 0x08) v = 0x3f;
            vga.Out(0x3C9, v); vga.Out(0x3C9, v); vga.Out(0x3C9, v);
        }
        LoadFont(vga, TestFont(), 16);
        vga.Out(0x3B4, 0x0A); vga.Out(0x3B5, 0x20);           // no cursor
        const ulong mono = 0xB0000 - VgaDevice.WindowBase;
        vga.WriteMmio(mono, 2, 0x0120);                       // underlined space
        vga.WriteMmio(mono + 2, 2, 0x0720);                   // plain space
        var fb = vga.Render();
        Assert.True(vga.IsTextMode);
        Assert.Equal((720, 400), (fb.Width, fb.Height));
        Assert.Equal(0xFFAAAAAAu, fb[4, 15]);                 // CR14 = 0x0F: underline on the last scan line
        Assert.Equal(Black, fb[4, 14]);
        Assert.Equal(Black, fb[9 + 4, 15]);
        Assert.Equal(0xFFu, vga.ReadMmio(TextWindow, 1));     // 0xB8000 is closed in mode 7
    }

    [Fact]
    public void Cursor_covers_its_scan_lines_in_the_cell_foreground()
    {
        var vga = Mode3();
        PutCode(vga, 5, 2, 0x20, 0x07);
        vga.Out(0x3D4, 0x0E); vga.Out(0x3D5, 0x00);
        vga.Out(0x3D4, 0x0F); vga.Out(0x3D5, 2 * 80 + 5);
        var fb = vga.Render();
        // Mode 3's cursor is scan lines 13..14 (CR0A = 0x0D, CR0B = 0x0E).
        Assert.Equal(Black, fb[5 * 9 + 3, 2 * 16 + 12]);
        Assert.Equal(LightGrey, fb[5 * 9 + 3, 2 * 16 + 13]);
        Assert.Equal(LightGrey, fb[5 * 9 + 8, 2 * 16 + 14]);
        Assert.Equal(Black, fb[5 * 9 + 3, 2 * 16 + 15]);

        vga.Out(0x3D4, 0x0A); vga.Out(0x3D5, 0x2D); // cursor off
        Assert.Equal(Black, vga.Render()[5 * 9 + 3, 2 * 16 + 13]);
    }

    [Fact]
    public void DumpText_gives_the_screen_as_trimmed_lines_with_box_drawing()
    {
        var vga = Mode3();
        for (int i = 0; i < 80 * 25; i++) vga.WriteMmio(TextWindow + (ulong)(i * 2), 2, 0x0720);
        Put(vga, 0, 0, "C:\\> dir  ", 0x07);
        PutCode(vga, 2, 1, 0xDA, 0x07);
        PutCode(vga, 3, 1, 0xC4, 0x07);
        PutCode(vga, 4, 1, 0xBF, 0x07);
        Put(vga, 70, 24, "bottom", 0x07);
        string text = vga.DumpText();
        var lines = text.Split('\n');
        Assert.Equal(26, lines.Length); // 25 lines, each ended by '\n'
        Assert.Equal("C:\\> dir", lines[0]);
        Assert.Equal("  ┌─┐", lines[1]);
        Assert.Equal("", lines[2]);
        Assert.Equal(new string(' ', 70) + "bottom", lines[24]);
    }

    [Fact]
    public void Start_address_scrolls_the_screen()
    {
        var vga = Mode3();
        Put(vga, 0, 1, "second", 0x07);
        vga.Out(0x3D4, 0x0C); vga.Out(0x3D5, 0);
        vga.Out(0x3D4, 0x0D); vga.Out(0x3D5, 80);
        Assert.StartsWith("second\n", vga.DumpText());
    }

    [Fact]
    public void Text_memory_reads_back_through_the_window_and_other_windows_are_closed()
    {
        var vga = Mode3();
        Put(vga, 3, 4, "Az", 0x4E);
        Assert.Equal(0x4E7A4E41u, vga.ReadMmio(TextWindow + (4 * 80 + 3) * 2, 4));
        Assert.Equal(0xFFu, vga.ReadMmio(0x100, 1)); // 0xA0000 is not mapped by memory map 3
        vga.WriteMmio(0x100, 1, 0x55);
        Assert.Equal(0xFFu, vga.ReadMmio(0x100, 1));
    }

    [Fact]
    public void Input_status_toggles_retrace_and_resets_the_attribute_flip_flop()
    {
        var vga = new VgaDevice();
        Setup(vga);
        int a = vga.In(0x3DA) & 0x08, b = vga.In(0x3DA) & 0x08;
        Assert.NotEqual(a, b);

        vga.Out(0x3C0, 0x05);  // index
        vga.In(0x3DA);         // back to "index" state
        vga.Out(0x3C0, 0x32);  // taken as an index again, not as data for register 5
        Assert.Equal(0x32, vga.In(0x3C0));
        vga.Out(0x3C0, 0x2A);  // data for register 0x12 (colour plane enable, 6 bits)
        Assert.Equal(0x2A, vga.In(0x3C1));
    }

    [Fact]
    public void Crtc_answers_at_3B4_or_3D4_as_misc_output_bit_0_says()
    {
        var vga = new VgaDevice();
        vga.Out(0x3C2, 0x66); // monochrome addressing
        vga.Out(0x3B4, 0x0E); vga.Out(0x3B5, 0x12);
        Assert.Equal(0x12, vga.In(0x3B5));
        Assert.Equal(0xFF, vga.In(0x3D5));
        vga.Out(0x3C2, 0x67);
        Assert.Equal(0xFF, vga.In(0x3B5));
        vga.Out(0x3D4, 0x0E);
        Assert.Equal(0x12, vga.In(0x3D5));
    }

    [Fact]
    public void Crtc_write_protect_guards_registers_0_to_7()
    {
        var vga = new VgaDevice();
        Setup(vga);
        vga.WritePort(0x3D4, 2, 0x4F01);
        vga.WritePort(0x3D4, 2, 0x8E11); // protect on
        vga.WritePort(0x3D4, 2, 0x2701);
        vga.Out(0x3D4, 0x01);
        Assert.Equal(0x4F, vga.In(0x3D5));
        vga.WritePort(0x3D4, 2, 0x2709); // CR9 is not protected
        vga.Out(0x3D4, 0x09);
        Assert.Equal(0x27, vga.In(0x3D5));
    }

    [Fact]
    public void Dac_reads_back_six_bit_components_in_order()
    {
        var vga = new VgaDevice();
        SetDac(vga, 5, 0xFF, 0x10, 0x2A);
        vga.Out(0x3C7, 5);
        Assert.Equal(3, vga.In(0x3C7)); // DAC in read mode
        Assert.Equal(0x3F, vga.In(0x3C9));
        Assert.Equal(0x10, vga.In(0x3C9));
        Assert.Equal(0x2A, vga.In(0x3C9));
        Assert.Equal(6, vga.In(0x3C8)); // write index advanced past entry 5
    }
}
