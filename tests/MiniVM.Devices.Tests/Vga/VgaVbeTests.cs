using MiniVM.Devices.Vga;
using static MiniVM.Devices.Tests.Vga.StdVgaModes;

namespace MiniVM.Devices.Tests.Vga;

public class VgaVbeTests
{
    private const ushort Id = 0, Xres = 1, Yres = 2, Bpp = 3, Enable = 4, Bank = 5, VirtWidth = 6, VirtHeight = 7, YOffset = 9, Memory64K = 10;

    private static ushort Dispi(VgaDevice vga, ushort index)
    {
        vga.WritePort(VgaDevice.VbeIndexPort, 2, index);
        return (ushort)vga.ReadPort(VgaDevice.VbeDataPort, 2);
    }

    private static void Dispi(VgaDevice vga, ushort index, ushort value)
    {
        vga.WritePort(VgaDevice.VbeIndexPort, 2, index);
        vga.WritePort(VgaDevice.VbeDataPort, 2, value);
    }

    /// <summary>bochsvga_set_mode's DISPI sequence.</summary>
    private static VgaDevice SetVbeMode(int width, int height, int bpp, ushort flags)
    {
        var vga = new VgaDevice();
        Setup(vga);
        Dispi(vga, Enable, 0);
        Dispi(vga, Bpp, (ushort)bpp);
        Dispi(vga, Xres, (ushort)width);
        Dispi(vga, Yres, (ushort)height);
        Dispi(vga, Bank, 0);
        Dispi(vga, Enable, (ushort)(VgaDevice.VbeEnabledFlag | flags));
        // The "VGA compat setup" part that matters for memory access: 64 KiB window at 0xA0000, all planes.
        vga.Out(0x3CE, 0x06); vga.Out(0x3CF, 0x05);
        vga.Out(0x3C4, 0x02); vga.Out(0x3C5, 0x0F);
        return vga;
    }

    [Fact]
    public void Id_handshake_memory_size_and_capabilities_match_what_seavgabios_probes()
    {
        var vga = new VgaDevice();
        Dispi(vga, Id, 0xB0C0);
        Assert.Equal(0xB0C0, Dispi(vga, Id));
        Dispi(vga, Id, 0xB0C5);
        Assert.Equal(0xB0C5, Dispi(vga, Id));
        Dispi(vga, Id, 0x1234);
        Assert.Equal(0xB0C5, Dispi(vga, Id));
        Assert.Equal(256, Dispi(vga, Memory64K)); // 16 MiB
        Dispi(vga, Enable, VgaDevice.VbeGetCapsFlag);
        Assert.Equal(VgaDevice.VbeMaxXres, Dispi(vga, Xres));
        Assert.Equal(32, Dispi(vga, Bpp));
        Dispi(vga, Enable, 0);
        Assert.Equal(0, Dispi(vga, Xres));
        vga.WritePort(VgaDevice.VbeIndexPort, 2, Id);
        Assert.Equal(0xB0C5u, vga.ReadPort(VgaDevice.VbeDataAliasPort, 2));
    }

    [Fact]
    public void Lfb_640x480x32_shows_what_is_written_to_the_linear_framebuffer()
    {
        var vga = SetVbeMode(640, 480, 32, VgaDevice.VbeLfbFlag);
        vga.LinearFramebuffer.WriteMmio((ulong)(123 * 640 + 456) * 4, 4, 0x00123456);
        vga.LinearFramebuffer.WriteMmio(0, 4, 0x00FF0000);
        var fb = vga.Render();
        Assert.False(vga.IsTextMode);
        Assert.Equal((640, 480), (fb.Width, fb.Height));
        Assert.Equal(0xFF123456u, fb[456, 123]);
        Assert.Equal(0xFFFF0000u, fb[0, 0]);
        Assert.Equal(0xFF000000u, fb[1, 0]);
        Assert.Equal(0x00123456u, vga.LinearFramebuffer.ReadMmio((ulong)(123 * 640 + 456) * 4, 4));
        Assert.Equal(640, Dispi(vga, VirtWidth));
        Assert.Equal(16 * 1024 * 1024 / (640 * 4), Dispi(vga, VirtHeight));
    }

    [Fact]
    public void Banked_window_at_A0000_reaches_all_video_memory()
    {
        var vga = SetVbeMode(800, 600, 8, 0);
        SetDac(vga, 7, 0x3F, 0x00, 0x3F);
        Dispi(vga, Bank, 3);
        vga.WriteMmio(0x10, 1, 7);
        Assert.Equal(7u, vga.LinearFramebuffer.ReadMmio(3 * 0x10000 + 0x10, 1));
        Assert.Equal(7u, vga.ReadMmio(0x10, 1));
        int offset = 3 * 0x10000 + 0x10;
        Assert.Equal(Argb(0x3F, 0x00, 0x3F), vga.Render()[offset % 800, offset / 800]);
    }

    [Theory]
    [InlineData(15, 0x7C00u, 0xFFFF0000u)]
    [InlineData(15, 0x03E0u, 0xFF00FF00u)]
    [InlineData(16, 0xF800u, 0xFFFF0000u)]
    [InlineData(16, 0x07E0u, 0xFF00FF00u)]
    [InlineData(16, 0x001Fu, 0xFF0000FFu)]
    [InlineData(24, 0x123456u, 0xFF123456u)]
    public void Direct_colour_depths_decode_to_rgb(int bpp, uint pixel, uint argb)
    {
        var vga = SetVbeMode(320, 200, bpp, VgaDevice.VbeLfbFlag);
        int bytes = (bpp + 7) / 8;
        ulong at = (ulong)((5 * 320 + 7) * bytes);
        for (int i = 0; i < bytes; i++) vga.LinearFramebuffer.WriteMmio(at + (ulong)i, 1, (pixel >> (8 * i)) & 0xFF);
        var fb = vga.Render();
        Assert.Equal(argb, fb[7, 5]);
        Assert.Equal(0xFF000000u, fb[8, 5]);
    }

    [Fact]
    public void Enabling_clears_the_screen_unless_told_not_to()
    {
        var vga = SetVbeMode(640, 480, 32, VgaDevice.VbeLfbFlag);
        vga.LinearFramebuffer.WriteMmio(400, 4, 0xABCDEF);
        Dispi(vga, Enable, 0);
        Dispi(vga, Enable, VgaDevice.VbeEnabledFlag | VgaDevice.VbeLfbFlag | VgaDevice.VbeNoClearMemFlag);
        Assert.Equal(0xABCDEFu, vga.LinearFramebuffer.ReadMmio(400, 4));
        Dispi(vga, Enable, 0);
        Dispi(vga, Enable, VgaDevice.VbeEnabledFlag | VgaDevice.VbeLfbFlag);
        Assert.Equal(0u, vga.LinearFramebuffer.ReadMmio(400, 4));
    }

    [Fact]
    public void Y_offset_pans_the_visible_part_of_the_virtual_screen()
    {
        var vga = SetVbeMode(640, 480, 32, VgaDevice.VbeLfbFlag);
        vga.LinearFramebuffer.WriteMmio(500 * 640 * 4, 4, 0x00FFFFFF);
        Dispi(vga, YOffset, 500);
        Assert.Equal(500, Dispi(vga, YOffset));
        Assert.Equal(0xFFFFFFFFu, vga.Render()[0, 0]);
    }

    [Fact]
    public void Eight_bit_dac_keeps_full_components()
    {
        var vga = SetVbeMode(320, 200, 8, (ushort)(VgaDevice.VbeLfbFlag | VgaDevice.Vbe8BitDacFlag));
        SetDac(vga, 1, 0xC8, 0x64, 0x01);
        vga.LinearFramebuffer.WriteMmio(0, 1, 1);
        Assert.Equal(0xFFC86401u, vga.Render()[0, 0]);
    }

    [Fact]
    public void Impossible_modes_are_clamped_to_fit_video_memory()
    {
        var vga = new VgaDevice(1 << 20);
        Dispi(vga, Bpp, 13);
        Dispi(vga, Xres, 0xFFFF);
        Dispi(vga, Yres, 0xFFFF);
        Dispi(vga, Enable, VgaDevice.VbeEnabledFlag | VgaDevice.VbeLfbFlag);
        Assert.Equal(8, Dispi(vga, Bpp));
        Assert.Equal(VgaDevice.VbeMaxXres, Dispi(vga, Xres));
        Assert.Equal((1 << 20) / VgaDevice.VbeMaxXres, Dispi(vga, Yres));
        var fb = vga.Render();
        Assert.Equal((VgaDevice.VbeMaxXres, (1 << 20) / VgaDevice.VbeMaxXres), (fb.Width, fb.Height));
        Assert.Equal(0xFFFFFFFFu, vga.LinearFramebuffer.ReadMmio(1 << 20, 4)); // past the end floats high
    }

    [Fact]
    public void Planar_4bpp_vbe_mode_renders_through_the_attribute_palette()
    {
        // bochsvga_set_mode for MM_PLANAR: VGA mode 6Ah first, then DISPI at 4 bpp.
        var vga = new VgaDevice();
        Setup(vga);
        SetMode(vga, 0x6A);
        LoadEgaPalette(vga);
        Dispi(vga, Enable, 0);
        Dispi(vga, Bpp, 4);
        Dispi(vga, Xres, 1024);
        Dispi(vga, Yres, 768);
        Dispi(vga, Enable, VgaDevice.VbeEnabledFlag);
        vga.Out(0x3CE, 0x00); vga.Out(0x3CF, 12);   // set/reset colour 12 on all planes
        vga.Out(0x3CE, 0x01); vga.Out(0x3CF, 0x0F);
        vga.WriteMmio(300 * 128 + 10, 1, 0);        // 8 pixels at x = 80..87, y = 300 (128 plane bytes a line)
        Dispi(vga, Bank, 1);                         // a planar bank is 64 Ki plane addresses
        vga.WriteMmio(700 * 128 + 10 - 0x10000, 1, 0);
        var fb = vga.Render();
        Assert.Equal((1024, 768), (fb.Width, fb.Height));
        var (r, g, b) = EgaColour(0x3C);
        Assert.Equal(Argb(r, g, b), fb[80, 300]);
        Assert.Equal(Argb(r, g, b), fb[87, 300]);
        Assert.Equal(0xFF000000u, fb[88, 300]);
        Assert.Equal(Argb(r, g, b), fb[80, 700]);
        Assert.Equal(0xFF000000u, fb[79, 700]);
    }

    [Fact]
    public void Disabling_vbe_returns_to_the_vga_modes()
    {
        var vga = SetVbeMode(640, 480, 32, VgaDevice.VbeLfbFlag);
        SetMode(vga, 3);
        Dispi(vga, Enable, 0);
        Assert.True(vga.IsTextMode);
        Assert.Equal((720, 400), (vga.Render().Width, vga.Render().Height));
    }
}
