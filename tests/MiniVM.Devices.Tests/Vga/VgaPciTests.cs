using MiniVM.Devices.Vga;

namespace MiniVM.Devices.Tests.Vga;

public class VgaPciTests
{
    private static byte[] FakeVgaBios()
    {
        var rom = new byte[38 * 1024 + 5];
        rom[0] = 0x55; rom[1] = 0xAA; rom[2] = (byte)(rom.Length / 512 + 1);
        rom[^1] = 0x42;
        return rom;
    }

    [Fact]
    public void Identifies_as_qemu_stdvga_display_controller()
    {
        var pci = new VgaPci(new VgaDevice(), FakeVgaBios());
        Assert.Equal(2, pci.Device);
        Assert.Equal(0x11111234u, pci.ReadConfig(0, 4));
        Assert.Equal(0x0300u, pci.ReadConfig(0x0A, 2));
        Assert.Equal(0x08u, pci.ReadConfig(0x10, 4)); // prefetchable 32-bit memory BAR, not yet placed
        Assert.Equal(0xFFFF_FFFFu, pci.ReadConfig(0xFE, 4)); // beyond the 256 bytes
    }

    [Fact]
    public void Bar0_sizes_as_video_memory_and_maps_the_lfb_when_memory_decoding_is_on()
    {
        var vga = new VgaDevice();
        var pci = new VgaPci(vga, FakeVgaBios());
        var moves = new List<ulong?>();
        pci.Lfb.Moved += moves.Add;

        pci.WriteConfig(0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0008u, pci.ReadConfig(0x10, 4)); // 16 MiB, prefetchable
        pci.WriteConfig(0x10, 4, 0xFD00_0000);
        Assert.Empty(moves);                                  // memory decoding still off
        pci.WriteConfig(0x04, 2, 0x0003);
        Assert.Equal([0xFD00_0000ul], moves);
        Assert.Equal(0xFD00_0000ul, pci.LfbAddress);
        pci.WriteConfig(0x04, 2, 0x0001);
        Assert.Equal([0xFD00_0000ul, null], moves);
    }

    [Fact]
    public void Rom_bar_serves_the_vga_bios_bytes()
    {
        var rom = FakeVgaBios();
        var pci = new VgaPci(new VgaDevice(), rom);
        ulong? romAt = null;
        pci.RomWindow!.Moved += a => romAt = a;
        Assert.Equal(65536u, pci.RomSize);
        pci.WriteConfig(0x30, 4, 0xFFFF_FFFE);
        Assert.Equal(0xFFFF_0000u, pci.ReadConfig(0x30, 4));  // 64 KiB, enable bit clear
        pci.WriteConfig(0x30, 4, 0xFEB0_0001);
        pci.WriteConfig(0x04, 2, 0x0002);
        Assert.Equal(0xFEB0_0000ul, romAt);
        Assert.Equal(0xAA55u, pci.Rom.ReadMmio(0, 2));
        Assert.Equal(0x42u, pci.Rom.ReadMmio((ulong)rom.Length - 1, 1));
        Assert.Equal(0u, pci.Rom.ReadMmio((ulong)rom.Length, 4)); // padding up to the BAR size
        pci.Rom.WriteMmio(0, 1, 0);
        Assert.Equal(0x55u, pci.Rom.ReadMmio(0, 1));
    }

    [Fact]
    public void Identity_registers_are_read_only_and_state_restores_the_mapping()
    {
        var pci = new VgaPci(new VgaDevice(), FakeVgaBios());
        pci.WriteConfig(0x00, 4, 0);
        Assert.Equal(0x11111234u, pci.ReadConfig(0, 4));
        pci.WriteConfig(0x10, 4, 0xE000_0000);
        pci.WriteConfig(0x04, 2, 0x0003);

        using var ms = new MemoryStream();
        pci.SaveState(new StateWriter(ms));
        ms.Position = 0;
        var copy = new VgaPci(new VgaDevice(), FakeVgaBios());
        ulong? lfb = null;
        copy.Lfb.Moved += a => lfb = a;
        copy.LoadState(new StateReader(ms, copy.SectionId), copy.SectionVersion);
        Assert.Equal(0xE000_0000ul, lfb);
        Assert.Equal(0xE000_0008u, copy.ReadConfig(0x10, 4));
    }
}
