using MiniVM.Devices;
using MiniVM.Devices.Storage;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>Guest-controlled registers must never crash the emulator: random port and config traffic, then a clean boot path.</summary>
public class StorageFuzzTests
{
    private static readonly ushort[] Ports = BuildPorts();

    private static ushort[] BuildPorts()
    {
        var p = new List<ushort>();
        for (int i = 0x00; i <= 0x0F; i++) p.Add((ushort)i);
        for (int i = 0x81; i <= 0x8F; i++) p.Add((ushort)i);
        for (int i = 0xC0; i <= 0xDF; i++) p.Add((ushort)i);
        for (int i = 0x3F0; i <= 0x3F7; i++) p.Add((ushort)i);
        for (int i = 0x1F0; i <= 0x1F7; i++) p.Add((ushort)i);
        for (int i = 0x170; i <= 0x177; i++) p.Add((ushort)i);
        p.Add(0x376);
        for (int i = 0xC000; i <= 0xC00F; i++) p.Add((ushort)i); // the bus master, where the test maps BAR4
        return [.. p];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomTrafficNeverThrowsAndTheControllersWorkAfterReset(int seed)
    {
        var ports = new PortBus();
        var memory = new FlatGuestMemory(1 << 20);
        var irq6 = new EdgeCountingIrq();
        var dma = new Dma8237(memory);
        dma.Attach(ports);
        var floppyDisk = new MemoryDisk(1474560);
        var fdc = new FloppyController(dma, FloppyDrive.ForImage(floppyDisk), new FloppyDrive(FloppyDriveType.Drive720K)).Wired(irq6);
        fdc.Attach(ports);
        var hdd = new MemoryDisk(16L << 20);
        // The secondary slave is a CD-ROM with a disc: random PACKETs, byte counts and bus-master tables reach it too.
        var cd = new AtapiCdrom("ide1-cd1");
        cd.Insert(new MemoryDisk(64 * 2048L, readOnly: true), "fuzz.iso");
        var ide = new PiixIde(new FlatGuestMemory(1 << 20), new AtaDrive(hdd), null, new AtaDrive(new MemoryDisk(4L << 20)), cd).Wired(new EdgeCountingIrq(), new EdgeCountingIrq());
        ide.Attach(ports);
        ide.WriteConfig(0x20, 4, 0xC000);
        ide.WriteConfig(0x04, 2, 0x0005);

        var rng = new Random(seed);
        for (int i = 0; i < 200_000; i++)
        {
            ushort port = Ports[rng.Next(Ports.Length)];
            int size = rng.Next(8) switch { 0 => 2, 1 => 4, _ => 1 };
            if (rng.Next(3) == 0) ports.Read(port, size);
            else ports.Write(port, size, (uint)rng.Next());
            if (rng.Next(500) == 0) ide.WriteConfig(rng.Next(256), 1 << rng.Next(3), (uint)rng.Next());
            if (rng.Next(2000) == 0) ide.WriteConfig(0x20, 4, 0xFFFF_FFFF);
        }

        // A reset puts everything back in a state the BIOS can drive.
        dma.Reset();
        fdc.Reset();
        ide.Reset();
        ide.WriteConfig(0x04, 2, 0);
        ports.Write(0x0D, 1, 0); // master clear, as SeaBIOS dma_setup
        var floppy = new SeaBiosFloppyDriver(ports, irq6);
        var r = floppy.Transfer(0, 20, 2, 0x7C00, write: false);
        Assert.Equal(0, r[0] & 0xC0);
        Assert.Equal(floppyDisk.Bytes(20 * 512, 1024), memory.Bytes.AsSpan(0x7C00, 1024).ToArray());

        var ata = new SeaBiosAtaDriver(ports, 0x1F0, 0x3F6);
        Assert.Single(ata.Detect());
        var buffer = new byte[4 * 512];
        Assert.Equal(0, ata.ReadWrite(0, 1234, 4, buffer, write: false));
        Assert.Equal(hdd.Bytes(1234 * 512, 4 * 512), buffer);
    }
}
