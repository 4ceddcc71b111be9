using MiniVM.Devices.Vga;
using static MiniVM.Devices.Tests.Vga.StdVgaModes;

namespace MiniVM.Devices.Tests.Vga;

public class VgaGraphicsModeTests
{
    private const uint Black = 0xFF000000;

    private static VgaDevice InMode(int mode)
    {
        var vga = new VgaDevice();
        Setup(vga);
        SetMode(vga, mode);
        LoadEgaPalette(vga);
        return vga;
    }

    private static void Gc(VgaDevice vga, byte index, byte value) { vga.Out(0x3CE, index); vga.Out(0x3CF, value); }
    private static void Seq(VgaDevice vga, byte index, byte value) { vga.Out(0x3C4, index); vga.Out(0x3C5, value); }

    /// <summary>The classic planar PutPixel: write mode 2, bit mask selects the pixel, a read loads the latches.</summary>
    private static void PutPixel(VgaDevice vga, int x, int y, byte colour, int bytesPerLine = 80)
    {
        Gc(vga, 5, 0x02);
        Gc(vga, 8, (byte)(0x80 >> (x & 7)));
        ulong a = (ulong)(y * bytesPerLine + x / 8);
        vga.ReadMmio(a, 1);
        vga.WriteMmio(a, 1, colour);
        Gc(vga, 8, 0xFF);
        Gc(vga, 5, 0x00);
    }

    private static uint Ega(int attrValue) { var (r, g, b) = EgaColour(attrValue); return Argb(r, g, b); }

    [Fact]
    public void Mode13h_is_320x200_chain4_through_the_dac()
    {
        var vga = InMode(0x13);
        SetDac(vga, 40, 0x3F, 0x20, 0x00);
        vga.WriteMmio(20 * 320 + 10, 1, 40);
        var fb = vga.Render();
        Assert.False(vga.IsTextMode);
        Assert.Equal((320, 200), (fb.Width, fb.Height));
        Assert.Equal(Argb(0x3F, 0x20, 0x00), fb[10, 20]);
        Assert.Equal(Black, fb[11, 20]);
        Assert.Equal(40u, vga.ReadMmio(20 * 320 + 10, 1));
        Assert.Equal(0xFFu, vga.ReadMmio(0x18000, 1)); // memory map 1 closes 0xB8000
    }

    [Fact]
    public void Unchained_mode_x_puts_pixel_x_in_plane_x_mod_4()
    {
        var vga = InMode(0x13);
        Seq(vga, 4, 0x06);                                           // chain-4 off
        vga.WritePort(0x3D4, 2, 0x0014);                             // CR14: no doubleword addressing
        vga.WritePort(0x3D4, 2, 0xE317);                             // CR17: byte mode
        SetDac(vga, 9, 0x3F, 0x3F, 0x00);
        Seq(vga, 2, 0x02);                                           // plane 1 = pixels 1, 5, 9, ...
        vga.WriteMmio(80 * 3 + 2, 1, 9);                             // row 3, x = 4 * 2 + 1
        var fb = vga.Render();
        Assert.Equal(Argb(0x3F, 0x3F, 0x00), fb[9, 3]);
        Assert.Equal(Black, fb[8, 3]);
        Assert.Equal(Black, fb[10, 3]);
    }

    [Fact]
    public void Mode13h_pel_mask_filters_the_colour_index()
    {
        var vga = InMode(0x13);
        SetDac(vga, 0x0F, 0x3F, 0x3F, 0x3F);
        vga.WriteMmio(0, 1, 0xFF);
        vga.Out(0x3C6, 0x0F);
        Assert.Equal(Argb(0x3F, 0x3F, 0x3F), vga.Render()[0, 0]);
    }

    [Fact]
    public void Mode12h_write_mode_2_sets_one_pixel_through_the_attribute_palette()
    {
        var vga = InMode(0x12);
        PutPixel(vga, 100, 50, 12);
        var fb = vga.Render();
        Assert.Equal((640, 480), (fb.Width, fb.Height));
        Assert.Equal(Ega(0x3C), fb[100, 50]);  // AR12 = 0x3C: light red
        Assert.Equal(Black, fb[99, 50]);
        Assert.Equal(Black, fb[101, 50]);
        Assert.Equal(Black, fb[100, 49]);
    }

    [Fact]
    public void Mode12h_set_reset_fills_a_line_and_read_mode_1_finds_a_colour()
    {
        var vga = InMode(0x12);
        Gc(vga, 0, 9); Gc(vga, 1, 0x0F);
        for (ulong i = 0; i < 80; i++) vga.WriteMmio(10 * 80 + i, 1, 0);
        Gc(vga, 1, 0x00);
        PutPixel(vga, 100, 10, 12);
        var fb = vga.Render();
        Assert.Equal(Ega(0x39), fb[0, 10]);
        Assert.Equal(Ega(0x39), fb[639, 10]);
        Assert.Equal(Ega(0x3C), fb[100, 10]);
        Assert.Equal(Black, fb[0, 11]);

        Gc(vga, 5, 0x08); Gc(vga, 2, 12); Gc(vga, 7, 0x0F);
        Assert.Equal(0x08u, vga.ReadMmio(10 * 80 + 12, 1)); // x = 100 is bit 3 of byte 12
        Gc(vga, 2, 9);
        Assert.Equal(0xF7u, vga.ReadMmio(10 * 80 + 12, 1));
        Gc(vga, 7, 0x00); // colour don't care everywhere: every pixel matches
        Assert.Equal(0xFFu, vga.ReadMmio(10 * 80 + 12, 1));
    }

    [Fact]
    public void Logical_operations_rotate_and_map_mask_apply_to_planes()
    {
        var vga = InMode(0x12);
        Seq(vga, 2, 0x01);                       // plane 0 only
        vga.WriteMmio(0, 1, 0xF0);
        vga.ReadMmio(0, 1);                      // latches
        Gc(vga, 3, 0x18);                        // XOR with latches
        vga.WriteMmio(0, 1, 0xFF);
        Gc(vga, 3, 0x01);                        // rotate right by 1, no ALU
        vga.WriteMmio(1, 1, 0x01);
        Gc(vga, 3, 0x00);
        Gc(vga, 4, 0);                           // read plane 0
        Assert.Equal(0x0Fu, vga.ReadMmio(0, 1));
        Assert.Equal(0x80u, vga.ReadMmio(1, 1));
        Gc(vga, 4, 1);
        Assert.Equal(0x00u, vga.ReadMmio(0, 1)); // plane 1 untouched by the map mask
    }

    [Fact]
    public void Write_mode_3_uses_rotated_data_as_bit_mask_and_write_mode_1_copies_latches()
    {
        var vga = InMode(0x12);
        Gc(vga, 0, 4);                           // set/reset colour 4
        Gc(vga, 5, 0x03);
        vga.WriteMmio(0, 1, 0x81);               // pixels 0 and 7
        Gc(vga, 5, 0x01);
        vga.ReadMmio(0, 1);
        vga.WriteMmio(5, 1, 0);                  // copy all four planes of byte 0 to byte 5
        Gc(vga, 5, 0x00);
        var fb = vga.Render();
        var red = Ega(0x04);
        Assert.Equal(red, fb[0, 0]);
        Assert.Equal(Black, fb[1, 0]);
        Assert.Equal(red, fb[7, 0]);
        Assert.Equal(red, fb[40, 0]);
        Assert.Equal(red, fb[47, 0]);
        Assert.Equal(Black, fb[41, 0]);
    }

    [Fact]
    public void Mode0D_is_320x200_with_double_scan_and_mode10_is_640x350()
    {
        var vga = InMode(0x0D);
        PutPixel(vga, 8, 3, 14, bytesPerLine: 40);
        var fb = vga.Render();
        Assert.Equal((320, 200), (fb.Width, fb.Height));
        Assert.Equal(Ega(0x16), fb[8, 3]);       // mode 0Dh's AR14 is 0x16 (CGA yellow)
        Assert.Equal(Black, fb[8, 4]);

        vga = InMode(0x10);
        fb = vga.Render();
        Assert.Equal((640, 350), (fb.Width, fb.Height));
    }

    [Fact]
    public void Mode4_cga_packs_2_bit_pixels_with_odd_lines_at_2000h()
    {
        var vga = InMode(0x04);
        SetDac(vga, 0x17, 0x3F, 0x3F, 0x3F);
        SetDac(vga, 0x13, 0x15, 0x3F, 0x3F);
        const ulong cga = 0xB8000 - VgaDevice.WindowBase;
        vga.WriteMmio(cga + 0x2000 + 1, 1, 0x30); // line 1, pixel 5 = colour 3
        vga.WriteMmio(cga + 80 + 0, 1, 0x40);     // line 2, pixel 0 = colour 1
        var fb = vga.Render();
        Assert.Equal((320, 200), (fb.Width, fb.Height));
        Assert.Equal(Argb(0x3F, 0x3F, 0x3F), fb[5, 1]);
        Assert.Equal(Black, fb[5, 0]);
        Assert.Equal(Black, fb[4, 1]);
        Assert.Equal(Argb(0x15, 0x3F, 0x3F), fb[0, 2]);
        Assert.Equal(0x30u, vga.ReadMmio(cga + 0x2000 + 1, 1));
    }

    [Fact]
    public void Pixel_panning_shifts_planar_and_256_colour_lines_left()
    {
        var vga = InMode(0x0D);
        PutPixel(vga, 8, 3, 14, bytesPerLine: 40);
        vga.In(0x3DA);
        vga.Out(0x3C0, 0x33); vga.Out(0x3C0, 3);  // AR13 = 3
        Assert.Equal(Ega(0x16), vga.Render()[5, 3]);

        vga = InMode(0x13);
        SetDac(vga, 40, 0x3F, 0x20, 0x00);
        vga.WriteMmio(20 * 320 + 10, 1, 40);
        vga.In(0x3DA);
        vga.Out(0x3C0, 0x33); vga.Out(0x3C0, 2);  // two dots = one 256-colour pixel
        var fb = vga.Render();
        Assert.Equal(Argb(0x3F, 0x20, 0x00), fb[9, 20]);
        Assert.Equal(Black, fb[10, 20]);
    }

    [Fact]
    public void Line_compare_splits_the_screen_back_to_address_0()
    {
        var vga = InMode(0x12);
        PutPixel(vga, 0, 0, 12);
        PutPixel(vga, 0, 100, 9);
        vga.WritePort(0x3D4, 2, (80 * 100 >> 8) << 8 | 0x0C);
        vga.WritePort(0x3D4, 2, (80 * 100 & 0xFF) << 8 | 0x0D);
        vga.WritePort(0x3D4, 2, 199 << 8 | 0x18);
        vga.Out(0x3D4, 0x07); vga.Out(0x3D5, (byte)(vga.In(0x3D5) & ~0x10)); // allowed despite CR11 protection
        vga.WritePort(0x3D4, 2, 0x0009);
        var fb = vga.Render();
        Assert.Equal(Ega(0x39), fb[0, 0]);
        Assert.Equal(Black, fb[0, 199]);
        Assert.Equal(Ega(0x3C), fb[0, 200]);
    }

    [Fact]
    public void Screen_is_black_while_the_attribute_palette_is_being_loaded()
    {
        var vga = InMode(0x13);
        SetDac(vga, 1, 0x3F, 0, 0);
        vga.WriteMmio(0, 1, 1);
        vga.In(0x3DA);
        vga.Out(0x3C0, 0x00); // palette address source off
        Assert.Equal(Black, vga.Render()[0, 0]);
        vga.In(0x3DA);
        vga.Out(0x3C0, 0x20);
        Assert.Equal(Argb(0x3F, 0, 0), vga.Render()[0, 0]);
    }

    [Fact]
    public void Garbage_in_every_register_renders_a_bounded_frame()
    {
        var vga = new VgaDevice();
        vga.Out(0x3C2, 0xFF);
        for (int i = 0; i < 256; i++) { vga.Out(0x3D4, (byte)i); vga.Out(0x3D5, 0xFF); }
        for (int i = 0; i < 8; i++) Seq(vga, (byte)i, 0xFF);
        for (int i = 0; i < 16; i++) Gc(vga, (byte)i, 0xFF);
        vga.In(0x3DA);
        for (int i = 0; i < 0x15; i++) { vga.Out(0x3C0, (byte)(i | 0x20)); vga.Out(0x3C0, 0xFF); }
        for (ulong a = 0; a < 0x20000; a += 0x1001) vga.WriteMmio(a, 4, 0xDEADBEEF);
        var fb = vga.Render();
        Assert.InRange(fb.Width, 1, 4096);
        Assert.InRange(fb.Height, 1, 2048);
        Assert.Equal(fb.Width * fb.Height, fb.Pixels.Length);
    }
}
