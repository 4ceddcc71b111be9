using MiniVM.Devices;
using MiniVM.Devices.Storage;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>Real guest images from ../shared/guests read through the SeaBIOS port protocols.</summary>
public class GuestImageTests
{
    [Theory]
    [InlineData("bootos.img", FloppyDriveType.Drive360K, 9, 1)]
    [InlineData("freedos722.img", FloppyDriveType.Drive720K, 9, 2)]
    [InlineData("freedos-boot-1440k.img", FloppyDriveType.Drive1440K, 18, 0)]
    public void FloppyBootSectorAndAMultiTrackReadMatchTheImage(string image, FloppyDriveType type, int spt, byte rate)
    {
        var bytes = SharedGuests.Read(image);
        var disk = MemoryDisk.FromBytes(bytes, image, readOnly: true);
        var ports = new PortBus();
        var memory = new FlatGuestMemory(1 << 20);
        var irq6 = new EdgeCountingIrq();
        var dma = new Dma8237(memory);
        dma.Attach(ports);
        var drive = FloppyDrive.ForImage(disk);
        Assert.Equal(type, drive.Type);
        new FloppyController(dma, drive).Wired(irq6).Attach(ports);
        var bios = new SeaBiosFloppyDriver(ports, irq6) { Spt = spt, DataRate = rate };

        var boot = bios.Transfer(0, 0, 1, 0x7C00, write: false);
        Assert.Equal(0, boot[0] & 0xC0);
        Assert.Equal(bytes[..512], memory.Bytes[0x7C00..0x7E00]);
        Assert.Equal(new byte[] { 0x55, 0xAA }, memory.Bytes[0x7DFE..0x7E00]);

        // From the middle of head 0 of cylinder 1 into head 1: what INT 13h does for a multi-sector read.
        int lba = 2 * spt + spt / 2, count = spt;
        var r = bios.Transfer(0, lba, count, 0x20000, write: false);
        Assert.Equal(0, r[0] & 0xC0);
        Assert.Equal(bytes[(lba * 512)..((lba + count) * 512)], memory.Bytes[0x20000..(0x20000 + count * 512)]);
    }

    [Fact]
    public void FreeDosHardDiskIsDetectedWithItsBiosGeometryAndBootsFromLba63()
    {
        var bytes = SharedGuests.Read("freedos-hdd-32m.img.gz");
        var disk = MemoryDisk.FromBytes(bytes, "freedos-hdd-32m.img");
        var ports = new PortBus();
        var ide = new PiixIde(new FlatGuestMemory(1 << 20), new AtaDrive(disk)).Wired(new EdgeCountingIrq(), new EdgeCountingIrq());
        ide.Attach(ports);
        var bios = new SeaBiosAtaDriver(ports, 0x1F0, 0x3F6);

        var (_, id) = Assert.Single(bios.Detect());
        Assert.Equal((65, 16, 63), ((int)id[1], (int)id[3], (int)id[6]));
        var mbr = new byte[512];
        Assert.Equal(0, bios.ReadWrite(0, 0, 1, mbr, write: false));
        Assert.Equal(bytes[..512], mbr);
        Assert.Equal(0x0E, mbr[0x1BE + 4]);  // FAT16 LBA partition
        var vbr = new byte[512];
        Assert.Equal(0, bios.ReadWrite(0, 63, 1, vbr, write: false));
        Assert.Equal(bytes[(63 * 512)..(64 * 512)], vbr);
        Assert.Equal(new byte[] { 0x55, 0xAA }, vbr[510..]);
    }
}
