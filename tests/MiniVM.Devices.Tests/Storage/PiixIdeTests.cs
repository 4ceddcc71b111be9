using System.Buffers.Binary;
using MiniVM.Devices;
using MiniVM.Devices.Storage;

namespace MiniVM.Devices.Tests.Storage;

public class PiixIdeTests
{
    private const long Disk64M = 64L << 20;
    private readonly PortBus _ports = new();
    private readonly EdgeCountingIrq _irq14 = new(), _irq15 = new();
    private readonly MemoryDisk _disk;
    private readonly PiixIde _ide;
    private readonly FlatGuestMemory _memory = new(1 << 20);

    public PiixIdeTests() : this(new MemoryDisk(Disk64M)) { }

    private PiixIdeTests(MemoryDisk disk, AtaDrive? slave = null, AtaDrive? secondaryMaster = null)
    {
        _disk = disk;
        _ide = new PiixIde(_memory, new AtaDrive(disk), slave, secondaryMaster).Wired(_irq14, _irq15);
        _ide.Attach(_ports);
    }

    private void Out(int reg, byte v) => _ports.Write((ushort)(0x1F0 + reg), 1, v);
    private byte In(int reg) => (byte)_ports.Read((ushort)(0x1F0 + reg), 1);
    private byte AltStatus => (byte)_ports.Read(0x3F6, 1);

    private byte[] ReadBytes(int count)
    {
        var b = new byte[count];
        for (int i = 0; i < count; i += 2) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(i), (ushort)_ports.Read(0x1F0, 2));
        return b;
    }

    private void WriteBytes(ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i += 2) _ports.Write(0x1F0, 2, BinaryPrimitives.ReadUInt16LittleEndian(data[i..]));
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 7 + seed + (i >> 9));
        return b;
    }

    [Fact]
    public void SeaBiosDetectionFindsTheMasterAndSkipsTheAbsentSlave()
    {
        var bios = new SeaBiosAtaDriver(_ports, 0x1F0, 0x3F6);
        var found = bios.Detect();
        var (slave, id) = Assert.Single(found);
        Assert.Equal(0, slave);
        Assert.Equal("MiniVM HARDDISK", SeaBiosAtaDriver.Model(id));
        Assert.Equal(131072u, id[60] | (uint)id[61] << 16);
    }

    [Fact]
    public void SeaBiosDetectionFindsMasterAndSlaveAndNothingOnAnEmptyChannel()
    {
        var t = new PiixIdeTests(new MemoryDisk(Disk64M), slave: new AtaDrive(new MemoryDisk(8L << 20), serial: "MVM00002"));
        var found = new SeaBiosAtaDriver(t._ports, 0x1F0, 0x3F6).Detect();
        Assert.Equal(new[] { 0, 1 }, found.Select(f => f.Slave));
        Assert.Equal(16384u, found[1].Identify[60] | (uint)found[1].Identify[61] << 16);
        Assert.Empty(new SeaBiosAtaDriver(t._ports, 0x170, 0x376).Detect());
        Assert.Equal(0xFF, (byte)t._ports.Read(0x177, 1)); // no device: the bus floats
    }

    [Fact]
    public void IdentifyReportsGeometryCapacityAndFeatures()
    {
        Out(6, 0xA0);
        Out(7, 0xEC);
        Assert.Equal(0x58, In(7));
        var id = ReadBytes(512);
        ushort W(int i) => BinaryPrimitives.ReadUInt16LittleEndian(id.AsSpan(i * 2));
        Assert.Equal(0x0040, W(0));
        Assert.Equal(130, W(1));     // 131072 sectors / (16 × 63)
        Assert.Equal(16, W(3));
        Assert.Equal(63, W(6));
        Assert.Equal(0x8010, W(47)); // READ/WRITE MULTIPLE up to 16
        Assert.Equal(0x0200, W(49) & 0x0200); // LBA
        Assert.Equal(0x0100, W(49) & 0x0100); // DMA offered
        Assert.Equal(0x3F, W(88) & 0x3F);     // Ultra DMA 0-5
        Assert.Equal(130 * 16 * 63, W(57) | W(58) << 16);
        Assert.Equal(0x0110, W(59));
        Assert.Equal(131072, W(60) | W(61) << 16);
        Assert.Equal(0x0400, W(83) & 0x0400); // LBA48
        Assert.Equal(0x3000, W(83) & 0x3000); // FLUSH CACHE and FLUSH CACHE EXT
        Assert.Equal(131072, W(100) | W(101) << 16);
        Assert.Equal(0, W(102) | W(103));
        Assert.Equal(0xA5, id[510]);
        Assert.Equal(0, id.Aggregate(0, (s, b) => (s + b) & 0xFF));
        Assert.Equal("MVM00001", System.Text.Encoding.ASCII.GetString(Swap(id.AsSpan(20, 20))).Trim());
        Assert.Equal(0x50, In(7));
    }

    private static byte[] Swap(ReadOnlySpan<byte> s)
    {
        var r = new byte[s.Length];
        for (int i = 0; i < s.Length; i++) r[i ^ 1] = s[i];
        return r;
    }

    [Fact]
    public void Lba28ReadRaisesAnInterruptPerSectorAndReturnsTheDiskBytes()
    {
        Out(6, 0xE0); Out(2, 3); Out(3, 0x10); Out(4, 0x02); Out(5, 0x00);
        Out(7, 0x20);
        var data = new List<byte>();
        for (int sector = 0; sector < 3; sector++)
        {
            Assert.True(_irq14.Level);
            Assert.Equal(sector + 1, _irq14.RisingEdges);
            Assert.Equal(0x58, In(7)); // acknowledges INTRQ
            Assert.False(_irq14.Level);
            data.AddRange(ReadBytes(512));
        }
        Assert.Equal(0x50, In(7));
        Assert.Equal(3, _irq14.RisingEdges); // PIO-in: no interrupt after the last block
        Assert.Equal(_disk.Bytes(0x210 * 512L, 3 * 512), data.ToArray());
        Assert.Equal(0x13, In(3)); // address registers name the next sector
        Assert.Equal(0, In(2));
    }

    [Fact]
    public void SeaBiosLba48WriteBeyond128GiBLandsAtTheRightOffset()
    {
        var big = new MemoryDisk(200L << 30);
        var t = new PiixIdeTests(big);
        var bios = new SeaBiosAtaDriver(t._ports, 0x1F0, 0x3F6);
        long lba = (1L << 28) + 5;
        var data = Pattern(2 * 512, 3);
        Assert.Equal(0, bios.ReadWrite(0, lba, 2, data, write: true));
        Assert.Equal(data, big.Bytes(lba * 512, 1024));
        Assert.Equal(MemoryDisk.Pattern((lba + 2) * 512), big.Bytes((lba + 2) * 512, 1)[0]);

        var back = new byte[1024];
        Assert.Equal(0, bios.ReadWrite(0, lba, 2, back, write: false));
        Assert.Equal(data, back);
        // HOB: the high-order halves of the address after the command.
        t._ports.Write(0x3F6, 1, 0x80);
        Assert.Equal(0x10, (byte)t._ports.Read(0x1F3, 1));
        t._ports.Write(0x3F6, 1, 0x00);
        Assert.Equal(0x07, (byte)t._ports.Read(0x1F3, 1));
    }

    [Fact]
    public void SeaBiosLba28ReadOf256SectorsUsesTheExtCommand()
    {
        var bios = new SeaBiosAtaDriver(_ports, 0x1F0, 0x3F6);
        var buffer = new byte[300 * 512];
        Assert.Equal(0, bios.ReadWrite(0, 1000, 300, buffer, write: false));
        Assert.Equal(_disk.Bytes(1000 * 512, 300 * 512), buffer);
    }

    [Fact]
    public void ChsAddressingFollowsInitializeDeviceParameters()
    {
        // Default translation 16 heads × 63 sectors: C=2 H=3 S=4 is LBA (2*16+3)*63+3.
        Out(6, 0xA3); Out(2, 1); Out(3, 4); Out(4, 2); Out(5, 0);
        Out(7, 0x20);
        Assert.Equal(_disk.Bytes(((2 * 16 + 3) * 63 + 3) * 512L, 512), ReadBytes(512));

        Out(6, 0xA3); Out(2, 17);          // 4 heads, 17 sectors per track
        Out(7, 0x91);
        Assert.Equal(0x50, In(7));
        Out(6, 0xA2); Out(2, 1); Out(3, 3); Out(4, 1); Out(5, 0);
        Out(7, 0x20);
        Assert.Equal(0x58, In(7));
        Assert.Equal(_disk.Bytes(((1 * 4 + 2) * 17 + 2) * 512L, 512), ReadBytes(512));

        Out(6, 0xA4); Out(2, 1); Out(3, 3); Out(4, 1); Out(5, 0); // head 4 does not exist now
        Out(7, 0x20);
        Assert.Equal(0x51, In(7));
        Assert.Equal(0x10, In(1));
    }

    [Fact]
    public void MultipleModeMovesBlocksOfTheMultipleCount()
    {
        Out(6, 0xE0); Out(2, 3);
        Out(7, 0xC6);
        Assert.Equal(0x51, In(7));         // 3 is not a power of two
        Out(2, 4);
        Out(7, 0xC6);
        Assert.Equal(0x50, In(7));

        var data = Pattern(10 * 512, 9);
        Out(6, 0xE0); Out(2, 10); Out(3, 50); Out(4, 0); Out(5, 0);
        Out(7, 0xC5);                      // WRITE MULTIPLE
        int edges = _irq14.RisingEdges;
        WriteBytes(data.AsSpan(0, 2048));
        Assert.Equal(0x58, In(7));
        WriteBytes(data.AsSpan(2048, 2048));
        Assert.Equal(0x58, In(7));
        WriteBytes(data.AsSpan(4096, 1024));
        Assert.Equal(0x50, In(7));
        Assert.Equal(edges + 3, _irq14.RisingEdges);
        Assert.Equal(data, _disk.Bytes(50 * 512, 10 * 512));

        Out(6, 0xE0); Out(2, 10); Out(3, 50); Out(4, 0); Out(5, 0);
        edges = _irq14.RisingEdges;
        Out(7, 0xC4);                      // READ MULTIPLE
        var back = new List<byte>();
        for (int block = 0; block < 3; block++)
        {
            Assert.Equal(0x58, In(7));
            back.AddRange(ReadBytes(block < 2 ? 2048 : 1024));
        }
        Assert.Equal(edges + 3, _irq14.RisingEdges);
        Assert.Equal(data, back.ToArray());
    }

    [Fact]
    public void AddressBeyondTheDiskAbortsWithIdNotFound()
    {
        Out(6, 0xE0); Out(2, 2); Out(3, 0xFF); Out(4, 0xFF); Out(5, 0x01); // LBA 131071 + 2 sectors
        Out(7, 0x20);
        Assert.True(_irq14.Level);
        Assert.Equal(0x51, In(7));
        Assert.Equal(0x10, In(1));
        Assert.Equal(0x51, AltStatus);
    }

    [Fact]
    public void ReadOnlyDiskAbortsWritesAndKeepsItsBytes()
    {
        var ro = new MemoryDisk(Disk64M, readOnly: true);
        var t = new PiixIdeTests(ro);
        t.Out(6, 0xE0); t.Out(2, 1); t.Out(3, 7); t.Out(4, 0); t.Out(5, 0);
        t.Out(7, 0x30);
        Assert.Equal(0x51, t.In(7));
        Assert.Equal(0x04, t.In(1));
        Assert.Equal(MemoryDisk.Pattern(7 * 512), ro.Bytes(7 * 512, 1)[0]);
    }

    [Fact]
    public void FlushCacheAndFlushCacheExtReachTheBlockDriver()
    {
        Out(6, 0xA0);
        Out(7, 0xE7);
        Assert.Equal(0x50, In(7));
        Out(7, 0xEA);
        Assert.Equal(0x50, In(7));
        Assert.Equal(2, _disk.FlushCount);
        Assert.Equal(2, _irq14.RisingEdges);
    }

    [Fact]
    public void SoftResetShowsBusyThenTheAtaSignature()
    {
        Out(6, 0xE0); Out(2, 0x33); Out(4, 0x44);
        _ports.Write(0x3F6, 1, 0x06);
        Assert.Equal(0x80, AltStatus);
        _ports.Write(0x3F6, 1, 0x02);
        Assert.Equal(0x50, AltStatus);
        Assert.Equal(new byte[] { 0x01, 0x01, 0x01, 0x00, 0x00, 0x00 }, new[] { In(1), In(2), In(3), In(4), In(5), In(6) });
    }

    [Fact]
    public void IdentifyPacketAbortsOnAnAtaDiskLeavingTheAtaSignature()
    {
        Out(6, 0xA0);
        Out(7, 0xA1);
        Assert.Equal(0x51, In(7));
        Assert.Equal(0x04, In(1));
        Assert.Equal(0x00, In(4));
        Assert.Equal(0x00, In(5));
    }

    [Fact]
    public void NienKeepsTheInterruptLineLow()
    {
        _ports.Write(0x3F6, 1, 0x02);
        Out(6, 0xA0);
        Out(7, 0xE7);
        Assert.False(_irq14.Level);
        Assert.Equal(0x50, AltStatus);     // alternate status does not acknowledge
        _ports.Write(0x3F6, 1, 0x00);
        Assert.True(_irq14.Level);         // the request was still pending
        Assert.Equal(0x50, In(7));
        Assert.False(_irq14.Level);
    }

    [Fact]
    public void AbsentSlaveReadsStatusZeroAndIgnoresCommands()
    {
        Out(6, 0xB0);
        Assert.Equal(0x00, In(7));
        Assert.Equal(0xB0, In(6));
        Out(2, 0x55);
        Assert.Equal(0x55, In(2));
        Out(7, 0xEC);
        Assert.Equal(0x00, In(7));
        Assert.False(_irq14.Level);
    }

    [Fact]
    public void SetFeaturesAcceptsPioAndDmaModesAndWriteCacheButRefusesModesNotOffered()
    {
        Out(6, 0xA0); Out(1, 0x03); Out(2, 0x0C);
        Out(7, 0xEF);
        Assert.Equal(0x50, In(7));
        Out(1, 0x03); Out(2, 0x46);        // UDMA 6 is not offered
        Out(7, 0xEF);
        Assert.Equal(0x51, In(7));
        Out(1, 0x03); Out(2, 0x22);        // multiword DMA 2
        Out(7, 0xEF);
        Assert.Equal(0x50, In(7));
        Out(1, 0x82);
        Out(7, 0xEF);
        Assert.Equal(0x50, In(7));
        Out(7, 0xEC);
        var id = ReadBytes(512);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(id.AsSpan(85 * 2)) & 0x20);
        Assert.Equal(0x0407, BinaryPrimitives.ReadUInt16LittleEndian(id.AsSpan(63 * 2))); // MDMA 2 selected
        Assert.Equal(0x003F, BinaryPrimitives.ReadUInt16LittleEndian(id.AsSpan(88 * 2))); // no UDMA mode selected
    }

    [Fact]
    public void ThirtyTwoBitDataPortReadsTwoWordsAtATime()
    {
        Out(6, 0xE0); Out(2, 1); Out(3, 9); Out(4, 0); Out(5, 0);
        Out(7, 0x20);
        var b = new byte[512];
        for (int i = 0; i < 512; i += 4) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i), _ports.Read(0x1F0, 4));
        Assert.Equal(_disk.Bytes(9 * 512, 512), b);
        Assert.Equal(0x50, In(7));
    }

    [Fact]
    public void PciConfigurationIdentifiesThePiix3IdeAndMapsTheBusMasterBar()
    {
        Assert.Equal(0x7010_8086u, _ide.ReadConfig(0, 4));
        Assert.Equal(0x0101_8000u, _ide.ReadConfig(8, 4));
        _ide.WriteConfig(0x20, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFF1u, _ide.ReadConfig(0x20, 4)); // 16 bytes of I/O space
        _ide.WriteConfig(0x20, 4, 0xC000);
        Assert.Null(_ports.DeviceAt(0xC000));
        _ide.WriteConfig(0x04, 2, 0x0005);
        Assert.NotNull(_ports.DeviceAt(0xC000));
        Assert.Equal(0x05u, _ide.ReadConfig(0x04, 2));
        _ide.WriteConfig(0x40, 2, 0x8000);
        Assert.Equal(0x8000u, _ide.ReadConfig(0x40, 2));

        Out(6, 0xA0);
        Out(7, 0xE7);                      // interrupt from the primary channel
        Assert.Equal(0x04, (byte)_ports.Read(0xC002, 1));
        _ports.Write(0xC002, 1, 0x64);     // clear the interrupt bit, set drive 0/1 DMA capable
        Assert.Equal(0x60, (byte)_ports.Read(0xC002, 1));
        _ports.Write(0xC004, 4, 0x0001_2347);
        Assert.Equal(0x0001_2344u, _ports.Read(0xC004, 4));
        _ide.WriteConfig(0x04, 2, 0x0000);
        Assert.Null(_ports.DeviceAt(0xC000));
    }

    [Fact]
    public void SnapshotInTheMiddleOfAReadResumesWithTheSameBytes()
    {
        Out(6, 0xE0); Out(2, 2); Out(3, 20); Out(4, 0); Out(5, 0);
        Out(7, 0x20);
        var first = ReadBytes(200);
        var stream = new MemoryStream();
        _ide.SaveState(new StateWriter(stream));

        var t = new PiixIdeTests(_disk);
        stream.Position = 0;
        t._ide.LoadState(new StateReader(stream, "ide"), 2);
        var rest = new List<byte>(first);
        rest.AddRange(t.ReadBytes(312));
        Assert.Equal(0x58, t.In(7));
        rest.AddRange(t.ReadBytes(512));
        Assert.Equal(0x50, t.In(7));
        Assert.Equal(_disk.Bytes(20 * 512, 1024), rest.ToArray());

        var withSlave = new PiixIdeTests(_disk, slave: new AtaDrive(new MemoryDisk(Disk64M)));
        var e = Assert.Throws<StateFormatException>(() => withSlave._ide.LoadState(new StateReader(new MemoryStream(stream.ToArray()), "ide"), 2));
        Assert.Contains("slave", e.Message);
    }

    [Fact]
    public void VerifyPowerModeDiagnosticAndNativeMaxAnswerWithoutData()
    {
        Out(6, 0xE0); Out(2, 4); Out(3, 10); Out(4, 0); Out(5, 0);
        Out(7, 0x40);                      // READ VERIFY SECTORS
        Assert.Equal(0x50, In(7));
        Assert.Equal(0, _disk.ReadCalls);  // nothing to transfer
        Out(7, 0xE5);                      // CHECK POWER MODE
        Assert.Equal(0x50, In(7));
        Assert.Equal(0xFF, In(2));         // active or idle
        Out(6, 0xE0);
        Out(7, 0xF8);                      // READ NATIVE MAX ADDRESS
        Assert.Equal(0x50, In(7));
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0x01 }, new[] { In(3), In(4), In(5) }); // 131071
        Out(7, 0x90);                      // EXECUTE DEVICE DIAGNOSTIC
        Assert.Equal(0x50, In(7));
        Assert.Equal(new byte[] { 0x01, 0x01, 0x01, 0x00, 0x00 }, new[] { In(1), In(2), In(3), In(4), In(5) });
    }

    [Fact]
    public void TinyDiskIsRefusedWithItsName()
    {
        var e = Assert.Throws<StorageDeviceException>(() => new AtaDrive(new MemoryDisk(100, name: "tiny.img")));
        Assert.Contains("tiny.img", e.Message);
    }
}
