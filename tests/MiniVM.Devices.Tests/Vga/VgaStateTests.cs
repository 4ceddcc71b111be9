using MiniVM.Devices.Vga;
using static MiniVM.Devices.Tests.Vga.StdVgaModes;

namespace MiniVM.Devices.Tests.Vga;

public class VgaStateTests
{
    private static byte[] Save(VgaDevice vga)
    {
        using var ms = new MemoryStream();
        vga.SaveState(new StateWriter(ms));
        return ms.ToArray();
    }

    private static void Load(VgaDevice vga, byte[] state) =>
        vga.LoadState(new StateReader(new MemoryStream(state), vga.SectionId), vga.SectionVersion);

    [Fact]
    public void Text_screen_survives_save_and_load_and_the_section_stays_small()
    {
        var vga = VgaTextModeTests.Mode3();
        VgaTextModeTests.Put(vga, 10, 12, "saved screen", 0x2F);
        var state = Save(vga);
        Assert.InRange(state.Length, 1, 300 * 1024); // 16 MiB of VRAM, only the used part is written

        var copy = new VgaDevice();
        Load(copy, state);
        Assert.Equal(vga.DumpText(), copy.DumpText());
        Assert.Equal(vga.Render().Pixels.ToArray(), copy.Render().Pixels.ToArray());
        // The write path came back too: text written after loading lands in the same place.
        VgaTextModeTests.Put(copy, 0, 0, "after", 0x07);
        Assert.StartsWith("after\n", copy.DumpText());
    }

    [Fact]
    public void Vbe_mode_and_lfb_contents_survive_save_and_load()
    {
        var vga = new VgaDevice();
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 1); vga.WritePort(VgaDevice.VbeDataPort, 2, 800);
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 2); vga.WritePort(VgaDevice.VbeDataPort, 2, 600);
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 3); vga.WritePort(VgaDevice.VbeDataPort, 2, 32);
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 4); vga.WritePort(VgaDevice.VbeDataPort, 2, 0x41);
        vga.LinearFramebuffer.WriteMmio((599 * 800 + 799) * 4, 4, 0x00C0FFEE);
        var copy = new VgaDevice();
        Load(copy, Save(vga));
        var fb = copy.Render();
        Assert.Equal((800, 600), (fb.Width, fb.Height));
        Assert.Equal(0xFFC0FFEEu, fb[799, 599]);
    }

    [Fact]
    public void Bytes_at_the_end_of_video_memory_are_saved_and_a_load_clears_what_the_state_does_not_hold()
    {
        // savevm reads video memory only up to what writes have reached; these writes reach its last bytes.
        var vga = new VgaDevice();
        int end = vga.VramSize;
        vga.LinearFramebuffer.WriteMmio((ulong)end - 4, 4, 0xCAFEF00D);
        var high = Save(vga);

        var copy = new VgaDevice();
        var empty = Save(copy);
        Load(copy, high);
        Assert.Equal(0xCAFEF00Du, copy.LinearFramebuffer.ReadMmio((ulong)end - 4, 4));
        // Loading a state without them (a snapshot taken earlier) leaves no trace of them.
        Load(copy, empty);
        Assert.Equal(0u, copy.LinearFramebuffer.ReadMmio((ulong)end - 4, 4));
        Assert.Equal(empty, Save(copy));
        Load(copy, high);
        Assert.Equal(high, Save(copy));
    }

    [Fact]
    public void A_write_through_a_high_vbe_bank_of_the_legacy_window_is_saved()
    {
        var vga = new VgaDevice();
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 3); vga.WritePort(VgaDevice.VbeDataPort, 2, 8);   // 8 bpp: chain-4
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 1); vga.WritePort(VgaDevice.VbeDataPort, 2, 1024);
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 2); vga.WritePort(VgaDevice.VbeDataPort, 2, 768);
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 4); vga.WritePort(VgaDevice.VbeDataPort, 2, VgaDevice.VbeEnabledFlag);
        vga.Out(0x3CE, 0x06); vga.Out(0x3CF, 0x05); // 64 KiB window at 0xA0000
        vga.Out(0x3C4, 0x02); vga.Out(0x3C5, 0x0F);
        int bank = vga.VramSize / 0x10000 - 1;
        vga.WritePort(VgaDevice.VbeIndexPort, 2, 5); vga.WritePort(VgaDevice.VbeDataPort, 2, (uint)bank);
        vga.WriteMmio(0xFFFC, 4, 0x12345678);
        Assert.Equal(0x12345678u, vga.LinearFramebuffer.ReadMmio((ulong)bank * 0x10000 + 0xFFFC, 4));

        var copy = new VgaDevice();
        Load(copy, Save(vga));
        Assert.Equal(0x12345678u, copy.LinearFramebuffer.ReadMmio((ulong)bank * 0x10000 + 0xFFFC, 4));
    }

    [Fact]
    public void Truncated_or_mismatched_state_is_refused_by_name()
    {
        var vga = VgaTextModeTests.Mode3();
        var state = Save(vga);
        var ex = Assert.Throws<StateFormatException>(() => Load(new VgaDevice(), state[..(state.Length / 2)]));
        Assert.Contains("vga", ex.Message);
        var small = Assert.Throws<StateFormatException>(() => Load(new VgaDevice(1 << 20), state));
        Assert.Contains("video memory", small.Message);
        Assert.Throws<StateFormatException>(() => new VgaDevice().LoadState(new StateReader(new MemoryStream(state), "vga"), 99));
    }
}
