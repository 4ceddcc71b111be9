using System.Buffers.Binary;
using MiniVM.Devices;
using MiniVM.Devices.Storage;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>
/// The ATAPI CD-ROM on the secondary master, driven through the I/O ports as SeaBIOS and Linux drive it: PACKET,
/// DRQ blocks bounded by the byte count limit, sense data, the tray and medium changes, DMA through the bus master,
/// and hostile packets (absurd allocation lengths, LBAs past the end) that end in CHECK CONDITION, never an exception.
/// </summary>
public class AtapiCdromTests
{
    private const int Sectors = 300;
    private readonly PortBus _ports = new();
    private readonly EdgeCountingIrq _irq14 = new(), _irq15 = new();
    private readonly FlatGuestMemory _memory = new(1 << 20);
    private readonly AtapiCdrom _cd = new("ide1-cd0");
    private readonly MemoryDisk _iso = new(Sectors * 2048L, readOnly: true, name: "disc.iso");
    private readonly PiixIde _ide;

    public AtapiCdromTests()
    {
        _cd.Insert(_iso, "disc.iso");
        _ide = new PiixIde(_memory, new AtaDrive(new MemoryDisk(8L << 20)), null, _cd).Wired(_irq14, _irq15);
        _ide.Attach(_ports);
        _ide.Reset();                        // power-on with the disc in the drive
        _ide.WriteConfig(0x20, 4, 0xC000);
        _ide.WriteConfig(0x04, 2, 0x0005);
    }

    private void Out(int reg, byte v) => _ports.Write((ushort)(0x170 + reg), 1, v);
    private byte In(int reg) => (byte)_ports.Read((ushort)(0x170 + reg), 1);
    private int ByteCount => In(4) | (In(5) << 8);

    private static byte[] Cdb(params byte[] bytes)
    {
        var p = new byte[12];
        bytes.CopyTo(p, 0);
        return p;
    }

    /// <summary>PACKET with the given byte count limit; returns the status after the packet went in.</summary>
    private byte Packet(byte[] cdb, int byteLimit = 0xFFFE, bool dma = false)
    {
        Out(6, 0xA0);
        Out(1, (byte)(dma ? 1 : 0));
        Out(4, (byte)byteLimit); Out(5, (byte)(byteLimit >> 8));
        Out(7, 0xA0);
        Assert.Equal(0x58, In(7));
        Assert.Equal(1, In(2) & 3);          // CoD=1, IO=0: the device wants the packet
        for (int i = 0; i < 12; i += 2) _ports.Write(0x170, 2, BinaryPrimitives.ReadUInt16LittleEndian(cdb.AsSpan(i)));
        return (byte)_ports.Read(0x376, 1);
    }

    /// <summary>Reads every DRQ block of a PIO data-in command; returns the data and the block sizes.</summary>
    private (byte[] Data, List<int> Blocks) ReadAll()
    {
        var data = new List<byte>();
        var blocks = new List<int>();
        while ((In(7) & 0x08) != 0)
        {
            Assert.Equal(2, In(2) & 3);      // IO=1, CoD=0: data to the host
            int n = ByteCount;
            blocks.Add(n);
            for (int i = 0; i < n; i += 2)
            {
                uint w = _ports.Read(0x170, 2);
                data.Add((byte)w);
                if (i + 1 < n) data.Add((byte)(w >> 8));
            }
            Assert.True(blocks.Count < 10000, "the device never finished");
        }
        return (data.ToArray(), blocks);
    }

    private (byte Key, byte Asc) RequestSense()
    {
        Packet(Cdb(0x03, 0, 0, 0, 18));
        var (sense, _) = ReadAll();
        Assert.Equal(0x70, sense[0]);
        return ((byte)(sense[2] & 0x0F), sense[12]);
    }

    private void AssertCheckCondition(byte key, byte asc)
    {
        Assert.Equal(0x51, In(7));           // DRDY, DSC, ERR
        Assert.Equal(key, In(1) >> 4);
        Assert.Equal(3, In(2) & 3);          // status phase
        Assert.Equal((key, asc), RequestSense());
    }

    [Fact]
    public void IdentifyDeviceAbortsWithThePacketSignatureAndIdentifyPacketDescribesACdRom()
    {
        Out(6, 0xA0);
        Out(7, 0xEC);
        Assert.Equal(0x51, In(7));
        Assert.Equal((0x14, 0xEB), (In(4), In(5)));
        Out(7, 0xA1);
        Assert.Equal(0x58, In(7));
        var id = new byte[512];
        for (int i = 0; i < 512; i += 2) BinaryPrimitives.WriteUInt16LittleEndian(id.AsSpan(i), (ushort)_ports.Read(0x170, 2));
        ushort W(int w) => BinaryPrimitives.ReadUInt16LittleEndian(id.AsSpan(w * 2));
        Assert.Equal(0x85C0, W(0));          // ATAPI, CD-ROM, removable, 12-byte packets
        Assert.Equal(0x0100, W(49) & 0x0100);
        Assert.Equal(0x3F, W(88) & 0x3F);
        Assert.Equal("MiniVM DVD-ROM", SeaBiosAtaDriver.Model(Enumerable.Range(0, 256).Select(W).ToArray()));
        Assert.Equal(0x50, In(7));
    }

    [Fact]
    public void Read10ComesInDrqBlocksNoLargerThanTheByteCountLimit()
    {
        Packet(Cdb(0x28, 0, 0, 0, 0, 7, 0, 0, 3), byteLimit: 2048);
        Assert.True(_irq15.Level);
        var (data, blocks) = ReadAll();
        Assert.Equal(new[] { 2048, 2048, 2048 }, blocks);
        Assert.Equal(_iso.Bytes(7 * 2048, 3 * 2048), data);
        Assert.Equal(0x50, In(7));
        Assert.Equal(3, In(2) & 3);
        Assert.Equal(4, _irq15.RisingEdges); // one per block and one for the status
    }

    [Fact]
    public void OddZeroAndHugeByteCountLimitsStillMoveEveryByte()
    {
        Packet(Cdb(0x28, 0, 0, 0, 0, 1, 0, 0, 2), byteLimit: 1001); // odd: blocks of 1000
        var (data, blocks) = ReadAll();
        Assert.Equal(_iso.Bytes(2048, 4096), data);
        Assert.All(blocks.SkipLast(1), b => Assert.Equal(1000, b));
        Packet(Cdb(0xA8, 0, 0, 0, 0, 0, 0, 0, 0, 40), byteLimit: 0);        // 0 is read as FFFEh
        (data, blocks) = ReadAll();
        Assert.Equal(40 * 2048, data.Length);
        Assert.Equal(0xFFFE, blocks[0]);
        Assert.Equal(_iso.Bytes(0, 40 * 2048), data);
    }

    [Fact]
    public void AbsurdAllocationLengthsGetTheReplyAndNoMore()
    {
        Packet(Cdb(0x12, 0, 0, 0xFF, 0xFF));                                  // INQUIRY, 65535 bytes allowed
        var (inquiry, _) = ReadAll();
        Assert.Equal(36, inquiry.Length);
        Assert.Equal(0x05, inquiry[0]);
        Packet(Cdb(0x5A, 0, 0x2A, 0, 0, 0, 0, 0xFF, 0xFF));                   // MODE SENSE(10) capabilities
        var (mode, _) = ReadAll();
        Assert.Equal(28, mode.Length);
        Assert.Equal(0x2A, mode[8]);
        Packet(Cdb(0x43, 0, 0, 0, 0, 0, 0, 0, 5));                             // READ TOC cut to 5 bytes
        var (toc, _) = ReadAll();
        Assert.Equal(5, toc.Length);
        Assert.Equal(18, BinaryPrimitives.ReadUInt16BigEndian(toc));
        Packet(Cdb(0x03, 0, 0, 0, 0));                                         // REQUEST SENSE with no room
        Assert.Equal(0x50, In(7));
        Packet(Cdb(0x46, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF));                        // GET CONFIGURATION
        var (config, _) = ReadAll();
        Assert.Equal(0x0008, BinaryPrimitives.ReadUInt16BigEndian(config.AsSpan(6))); // CD-ROM profile current
    }

    [Fact]
    public void ReadsPastTheEndAndUnknownCommandsEndInCheckCondition()
    {
        Packet(Cdb(0x28, 0, 0, 0, 0x01, 0x2B, 0, 0, 2));                       // LBA 299 + 2 sectors
        AssertCheckCondition(0x05, 0x21);
        Packet(Cdb(0xA8, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF));  // READ(12) of 4 G sectors at 4 G
        AssertCheckCondition(0x05, 0x21);
        Packet(Cdb(0xFF));
        AssertCheckCondition(0x05, 0x20);
        Packet(Cdb(0x4A, 0, 0, 0, 0x10, 0, 0, 0, 8));                          // GESN without the polled bit
        AssertCheckCondition(0x05, 0x24);
        Packet(Cdb(0x25));
        var (capacity, _) = ReadAll();
        Assert.Equal((uint)Sectors - 1, BinaryPrimitives.ReadUInt32BigEndian(capacity));
    }

    [Fact]
    public void EjectAndChangeAreSeenAsNotReadyThenUnitAttentionThenTheNewMedium()
    {
        Packet(Cdb(0x1E, 0, 0, 0, 1));                                         // the guest locks the tray
        Assert.False(_cd.Eject(force: false));
        Packet(Cdb(0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8));
        var (events, _) = ReadAll();
        Assert.Equal(1, events[4]);                                            // eject requested
        Assert.True(_cd.Eject(force: true));
        Packet(Cdb(0x00));
        AssertCheckCondition(0x06, 0x28);                                      // the change is reported once
        Packet(Cdb(0x00));
        AssertCheckCondition(0x02, 0x3A);                                      // then: no medium
        Packet(Cdb(0x28, 0, 0, 0, 0, 0, 0, 0, 1));
        AssertCheckCondition(0x02, 0x3A);

        var second = new MemoryDisk(20 * 2048L, readOnly: true, name: "second.iso");
        _cd.Insert(second, "second.iso");
        Packet(Cdb(0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8));
        (events, _) = ReadAll();
        Assert.Equal((2, 2), (events[4], events[5]));                          // new media, present
        Packet(Cdb(0x28, 0, 0, 0, 0, 3, 0, 0, 1));
        AssertCheckCondition(0x06, 0x28);
        Packet(Cdb(0x28, 0, 0, 0, 0, 3, 0, 0, 1));
        var (data, _) = ReadAll();
        Assert.Equal(second.Bytes(3 * 2048, 2048), data);
    }

    [Fact]
    public void TheGuestOpensAndClosesTheTrayWithStartStopUnit()
    {
        Packet(Cdb(0x1B, 0, 0, 0, 0x02));                                      // LoEj, stop: open
        Assert.Equal(0x50, In(7));
        Assert.True(_cd.TrayOpen);
        Packet(Cdb(0x00));
        AssertCheckCondition(0x02, 0x3A);
        Packet(Cdb(0x1B, 0, 0, 0, 0x03));                                      // LoEj, start: close
        Assert.False(_cd.TrayOpen);
        Packet(Cdb(0x00));
        Assert.Equal(0x50, In(7));
    }

    // ----- bus-master DMA -----

    private void WritePrd(int at, params (uint Address, int Length, bool Last)[] entries)
    {
        foreach (var (address, length, last) in entries)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_memory.Bytes.AsSpan(at), address);
            BinaryPrimitives.WriteUInt32LittleEndian(_memory.Bytes.AsSpan(at + 4), (uint)(length & 0xFFFF) | (last ? 0x8000_0000u : 0));
            at += 8;
        }
    }

    private void StartBusMaster(int channelBase, uint table, bool toMemory)
    {
        _ports.Write((ushort)(channelBase + 2), 1, 0x06);                      // clear interrupt and error
        _ports.Write((ushort)(channelBase + 4), 4, table);
        _ports.Write((ushort)channelBase, 1, (byte)((toMemory ? 0x08 : 0) | 0x01));
    }

    [Fact]
    public void AtapiDmaReadFillsThePrdBuffersAndCompletesWithTheInterruptBit()
    {
        WritePrd(0x1000, (0x20000, 4096, false), (0x30000, 2048, true));
        Packet(Cdb(0x28, 0, 0, 0, 0, 10, 0, 0, 3), dma: true);
        Assert.Equal(0x58, In(7));                                             // waits for the bus master
        StartBusMaster(0xC008, 0x1000, toMemory: true);
        Assert.Equal(_iso.Bytes(10 * 2048, 4096), _memory.Bytes.AsSpan(0x20000, 4096).ToArray());
        Assert.Equal(_iso.Bytes(12 * 2048, 2048), _memory.Bytes.AsSpan(0x30000, 2048).ToArray());
        Assert.Equal(0x04, (byte)_ports.Read(0xC00A, 1));                      // interrupt, no longer active
        Assert.Equal(0x50, In(7));
        Assert.Equal(3, In(2) & 3);
    }

    [Fact]
    public void DiskReadAndWriteDmaMoveSectorsBothWays()
    {
        var disk = new MemoryDisk(8L << 20);
        var ide = new PiixIde(_memory, new AtaDrive(disk)).Wired(_irq14, _irq15);
        var ports = new PortBus();
        ide.Attach(ports);
        ide.WriteConfig(0x20, 4, 0xD000);
        ide.WriteConfig(0x04, 2, 0x0005);
        WritePrd(0x2000, (0x40000, 0, true));                                  // length 0 = 64 KiB
        ports.Write(0x1F6, 1, 0xE0); ports.Write(0x1F2, 1, 128); ports.Write(0x1F3, 1, 5);
        ports.Write(0x1F4, 1, 0); ports.Write(0x1F5, 1, 0);
        ports.Write(0xD004, 4, 0x2000);
        ports.Write(0xD000, 1, 0x09);                                          // engine first, as any order works
        ports.Write(0x1F7, 1, 0xC8);                                           // READ DMA
        Assert.Equal(disk.Bytes(5 * 512, 65536), _memory.Bytes.AsSpan(0x40000, 65536).ToArray());
        Assert.Equal(0x04, (byte)ports.Read(0xD002, 1));
        Assert.Equal(0x50, (byte)ports.Read(0x1F7, 1));

        _memory.Bytes.AsSpan(0x50000, 1024).Fill(0xA5);
        WritePrd(0x2000, (0x50000, 1024, true));
        ports.Write(0xD000, 1, 0x00); ports.Write(0xD002, 1, 0x06);
        ports.Write(0x1F2, 1, 0); ports.Write(0x1F2, 1, 2);                     // 2 sectors at LBA48 100
        ports.Write(0x1F3, 1, 0); ports.Write(0x1F3, 1, 100);
        ports.Write(0x1F4, 1, 0); ports.Write(0x1F4, 1, 0); ports.Write(0x1F5, 1, 0); ports.Write(0x1F5, 1, 0);
        ports.Write(0x1F6, 1, 0x40);
        ports.Write(0x1F7, 1, 0x35);                                           // WRITE DMA EXT
        ports.Write(0xD000, 1, 0x01);
        Assert.All(disk.Bytes(100 * 512, 1024), b => Assert.Equal(0xA5, b));
        Assert.Equal(0x50, (byte)ports.Read(0x1F7, 1));
    }

    [Theory]
    [InlineData("buffer outside RAM")]
    [InlineData("table outside RAM")]
    [InlineData("table too short")]
    [InlineData("table without end")]
    public void HostilePrdTablesEndWithTheErrorBitAndAnAbortedCommand(string kind)
    {
        uint table = 0x1000;
        switch (kind)
        {
            case "buffer outside RAM": WritePrd(0x1000, (0xFFFF_0000, 4096, true)); break;
            case "table outside RAM": table = 0xFFFF_FFF8; break;
            case "table too short": WritePrd(0x1000, (0x20000, 512, true)); break;
            case "table without end":
                // 8192 two-byte entries fill the table's 64 KiB without End Of Table; the read wants more.
                for (int i = 0; i < 8192; i++) WritePrd(0x10000 + i * 8, (0x30000, 2, false));
                table = 0x10000;
                break;
        }
        Packet(Cdb(0x28, 0, 0, 0, 0, 0, 0, 0, 16), dma: true);
        StartBusMaster(0xC008, table, toMemory: true);
        byte bmStatus = (byte)_ports.Read(0xC00A, 1);
        Assert.Equal(0x06, bmStatus & 0x07);                                   // error and interrupt, not active
        Assert.NotNull(_ide.Secondary.BusMaster.LastError);
        Assert.Equal(0x51, In(7));
        Assert.Equal(0x04, In(1));                                             // ABRT
        _ports.Write(0xC008, 1, 0);
        Packet(Cdb(0x00));                                                     // and the drive goes on working
        Assert.Equal(0x50, In(7));
    }

    // ----- saved state -----

    [Fact]
    public void SavedStateInTheMiddleOfAReadResumesWithTheSameBytesAndNamesItsMedium()
    {
        string iso = Path.Combine(Path.GetTempPath(), $"minivm-cd-{Guid.NewGuid():N}.iso");
        File.WriteAllBytes(iso, _iso.Bytes(0, Sectors * 2048));
        try
        {
            _cd.Insert(MemoryDisk.FromBytes(File.ReadAllBytes(iso), iso, readOnly: true), iso);
            Packet(Cdb(0x00));                                                 // take the unit attention
            RequestSense();
            Packet(Cdb(0x28, 0, 0, 0, 0, 50, 0, 0, 40), byteLimit: 4096);
            var first = new byte[1000];
            for (int i = 0; i < 1000; i += 2) BinaryPrimitives.WriteUInt16LittleEndian(first.AsSpan(i), (ushort)_ports.Read(0x170, 2));
            var state = new MemoryStream();
            _ide.SaveState(new StateWriter(state));

            var t = new AtapiCdromTests();
            t._cd.Eject(force: true);
            t._cd.OpenMedium = file => MemoryDisk.FromBytes(File.ReadAllBytes(file), file, readOnly: true);
            t._ide.LoadState(new StateReader(new MemoryStream(state.ToArray()), "ide"), 2);
            Assert.Equal(iso, t._cd.MediumName);
            var rest = new List<byte>(first);
            for (int i = 0; i < 3096; i += 2) { uint w = t._ports.Read(0x170, 2); rest.Add((byte)w); rest.Add((byte)(w >> 8)); }
            rest.AddRange(t.ReadAll().Data);
            Assert.Equal(_iso.Bytes(50 * 2048, 40 * 2048), rest.ToArray());

            File.Delete(iso);
            var u = new AtapiCdromTests();
            u._cd.OpenMedium = t._cd.OpenMedium;
            var e = Assert.Throws<StateFormatException>(() => u._ide.LoadState(new StateReader(new MemoryStream(state.ToArray()), "ide"), 2));
            Assert.Contains($"had the medium '{iso}' inserted, and that file is gone", e.Message);
        }
        finally { File.Delete(iso); }
    }
}
