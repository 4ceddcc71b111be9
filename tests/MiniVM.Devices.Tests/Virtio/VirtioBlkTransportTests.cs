using MiniVM.Devices;
using MiniVM.Devices.Pci;
using MiniVM.Devices.Virtio;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>What a driver sees of the two PCI transports before any request: IDs, BARs, capabilities, features, config.</summary>
public sealed class VirtioBlkTransportTests
{
    private static ulong Bit(int f) => 1UL << f;

    [Fact]
    public void LegacyTransportIsDevice1001Revision0WithAnIoBarAndConfigAtOffset20()
    {
        var disk = new RecordingDisk(64 * 512);
        var d = new VirtioBlkPciLegacy(disk, new StrictGuestMemory(4096), device: 3, serial: "S").Wired(new LevelIrq());
        Assert.Equal(0x1001_1AF4u, d.ReadConfig(0, 4));
        Assert.Equal(0u, d.ReadConfig(0x08, 1));          // revision 0: transitional/legacy
        Assert.Equal(0x0002_1AF4u, d.ReadConfig(0x2C, 4)); // subsystem device = block
        Assert.Equal(1u, d.ReadConfig(0x3D, 1));           // INTA#
        d.WriteConfig(0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FF81u, d.ReadConfig(0x10, 4)); // 128 bytes of I/O

        var driver = new TestVirtioDriver("legacy", disk);
        ulong f = driver.DeviceFeatures();
        Assert.Equal(Bit(VirtioBlkFeatures.SegMax) | Bit(VirtioBlkFeatures.Geometry) | Bit(VirtioBlkFeatures.BlkSize)
            | Bit(VirtioBlkFeatures.Flush) | Bit(VirtioBlkFeatures.Discard) | Bit(VirtioBlkFeatures.WriteZeroes)
            | Bit(VirtioBlkFeatures.IndirectDesc), f);
        Assert.Equal(64u, driver.DeviceConfig(0, 4));          // capacity in sectors
        Assert.Equal(0u, driver.DeviceConfig(4, 4));
        Assert.Equal(126u, driver.DeviceConfig(12, 4));        // seg_max
        Assert.Equal(512u, driver.DeviceConfig(20, 4));        // blk_size
        Assert.Equal(128u, driver.Legacy(0x0C, 2));            // queue size
    }

    [Fact]
    public void ModernTransportIsDevice1042WithFourVendorCapabilitiesAndVersion1()
    {
        var disk = new RecordingDisk(2048 * 512, readOnly: true);
        var d = new VirtioBlkPciModern(disk, new StrictGuestMemory(4096), device: 4, serial: "S").Wired(new LevelIrq());
        Assert.Equal(0x1042_1AF4u, d.ReadConfig(0, 4));
        Assert.Equal(1u, d.ReadConfig(0x08, 1));
        Assert.Equal(0x10u, d.ReadConfig(0x06, 2) & 0x10); // capabilities list
        var types = new List<(int Type, int Bar, uint Offset, uint Length)>();
        for (int cap = (int)d.ReadConfig(0x34, 1), guard = 0; cap != 0 && guard < 48; cap = (int)d.ReadConfig(cap + 1, 1), guard++)
        {
            Assert.Equal(0x09u, d.ReadConfig(cap, 1));
            types.Add(((int)d.ReadConfig(cap + 3, 1), (int)d.ReadConfig(cap + 4, 1), d.ReadConfig(cap + 8, 4), d.ReadConfig(cap + 12, 4)));
            if (d.ReadConfig(cap + 3, 1) == 2) Assert.Equal(4u, d.ReadConfig(cap + 16, 4)); // notify_off_multiplier
        }
        Assert.Equal([1, 3, 4, 2, 5], types.Select(t => t.Type));
        Assert.All(types.Take(4), t => { Assert.Equal(4, t.Bar); Assert.True(t.Offset + t.Length <= VirtioBlkPciModern.BarSize); });
        Assert.True(types.Single(t => t.Type == 1).Length >= 0x38);
        d.WriteConfig(0x20, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_C000u, d.ReadConfig(0x20, 4)); // 16 KiB memory BAR
        Assert.Equal(0u, d.ReadConfig(0x10, 4));            // no I/O BAR

        var driver = new TestVirtioDriver("modern", disk);
        ulong f = driver.DeviceFeatures();
        Assert.NotEqual(0UL, f & Bit(VirtioBlkFeatures.Version1));
        Assert.NotEqual(0UL, f & Bit(VirtioBlkFeatures.ReadOnly));
        Assert.Equal(2048u, driver.DeviceConfig(0, 4));
        Assert.Equal(1u, driver.Common(0x12, 2));           // num_queues
        Assert.Equal(0xFFFFu, driver.Common(0x10, 2));      // no MSI-X vector
    }

    [Fact]
    public void ModernDeviceRefusesFeaturesOkWithoutVersion1OrWithUnofferedBits()
    {
        var driver = new TestVirtioDriver("modern", new RecordingDisk(64 * 512));
        byte s = driver.Initialize(accept: Bit(VirtioBlkFeatures.BlkSize));
        Assert.Equal(0, s & VirtioStatus.FeaturesOk);
        s = driver.Initialize(accept: Bit(VirtioBlkFeatures.Version1) | Bit(40));
        Assert.Equal(0, s & VirtioStatus.FeaturesOk);
        s = driver.Initialize(accept: Bit(VirtioBlkFeatures.Version1) | Bit(VirtioBlkFeatures.BlkSize));
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk, s);
    }

    [Fact]
    public void PciConfigurationAccessCapabilityReachesTheBarRegisters()
    {
        var d = new VirtioBlkPciModern(new RecordingDisk(64 * 512), new StrictGuestMemory(4096), device: 3, serial: "S").Wired(new LevelIrq());
        const int cap = 0x84;
        Assert.Equal(5u, d.ReadConfig(cap + 3, 1));
        d.WriteConfig(cap + 4, 1, 4);        // bar
        d.WriteConfig(cap + 8, 4, 0x2000);   // device configuration: capacity
        d.WriteConfig(cap + 12, 4, 4);       // length
        Assert.Equal(64u, d.ReadConfig(cap + 16, 4));
        d.WriteConfig(cap + 8, 4, 0x0012);   // common: num_queues
        d.WriteConfig(cap + 12, 4, 2);
        Assert.Equal(1u, d.ReadConfig(cap + 16, 4) & 0xFFFF);
    }

    [Fact]
    public void ModernBarIsAnnouncedOnlyWhileMemoryDecodingIsOn()
    {
        var d = new VirtioBlkPciModern(new RecordingDisk(64 * 512), new StrictGuestMemory(4096), device: 3, serial: "S").Wired(new LevelIrq());
        var moves = new List<ulong?>();
        d.Bar4.Moved += moves.Add;
        d.WriteConfig(0x20, 4, 0xFEB0_0000);
        d.WriteConfig(PciConfigSpace.Command, 2, PciConfigSpace.CommandMemory);
        d.WriteConfig(PciConfigSpace.Command, 2, 0);
        d.Reset();
        Assert.Equal([0xFEB0_0000UL, null], moves);
    }

    [Fact]
    public void LegacyBarMapsOnThePortBusWhenIoDecodingIsOn()
    {
        var ports = new PortBus();
        var d = new VirtioBlkPciLegacy(new RecordingDisk(64 * 512), new StrictGuestMemory(4096), device: 3, serial: "S").Wired(new LevelIrq());
        d.Attach(ports);
        d.WriteConfig(0x10, 4, 0xC080);
        Assert.Equal(0xFFFFFFFFu, ports.Read(0xC080 + 20, 4));
        d.WriteConfig(PciConfigSpace.Command, 2, PciConfigSpace.CommandIo);
        Assert.Equal(64u, ports.Read(0xC080 + 20, 4));
        d.Reset();
        Assert.Equal(0xFFFFFFFFu, ports.Read(0xC080 + 20, 4));
    }
}
