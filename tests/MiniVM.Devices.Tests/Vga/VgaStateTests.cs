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
