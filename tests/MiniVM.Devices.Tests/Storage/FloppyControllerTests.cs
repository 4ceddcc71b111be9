using MiniVM.Devices;
using MiniVM.Devices.Storage;

namespace MiniVM.Devices.Tests.Storage;

public class FloppyControllerTests
{
    private readonly PortBus _ports = new();
    private readonly FlatGuestMemory _memory = new(1 << 20);
    private readonly EdgeCountingIrq _irq6 = new();
    private readonly Dma8237 _dma;
    private readonly MemoryDisk _disk;
    private readonly FloppyController _fdc;
    private readonly SeaBiosFloppyDriver _bios;

    public FloppyControllerTests() : this(new MemoryDisk(1474560)) { }

    private FloppyControllerTests(MemoryDisk disk, FloppyDrive? driveA = null, FloppyDrive? driveB = null)
    {
        _disk = disk;
        _dma = new Dma8237(_memory);
        _dma.Attach(_ports);
        _fdc = new FloppyController(_dma, driveA ?? FloppyDrive.ForImage(disk), driveB).Wired(_irq6);
        _fdc.Attach(_ports);
        _bios = new SeaBiosFloppyDriver(_ports, _irq6);
    }

    private byte Msr => (byte)_ports.Read(0x3F4, 1);
    private byte Dir => (byte)_ports.Read(0x3F7, 1);

    private byte[] Command(params byte[] bytes) => CommandWithResult(bytes.Length, bytes);

    private byte[] CommandWithResult(int length, byte[] bytes)
    {
        foreach (var b in bytes) _ports.Write(0x3F5, 1, b);
        var result = new List<byte>();
        while ((Msr & 0xC0) == 0xC0) result.Add((byte)_ports.Read(0x3F5, 1));
        return [.. result];
    }

    [Fact]
    public void ResetThroughDorRaisesIrq6AndReportsFourDrivesThenNothing()
    {
        _ports.Write(0x3F2, 1, 0x00);
        Assert.Equal(0x00, Msr); // held in reset
        _ports.Write(0x3F2, 1, 0x0C);
        Assert.True(_irq6.Level);
        Assert.Equal(1, _irq6.RisingEdges);
        for (int drive = 0; drive < 4; drive++)
            Assert.Equal(new byte[] { (byte)(0xC0 | drive), 0 }, Command(0x08));
        Assert.False(_irq6.Level);
        Assert.Equal(new byte[] { 0x80 }, Command(0x08)); // no interrupt pending: invalid command
    }

    [Fact]
    public void DorDmaGateMasksTheInterruptOutput()
    {
        _ports.Write(0x3F2, 1, 0x00);
        _ports.Write(0x3F2, 1, 0x04); // out of reset with the gate closed
        Assert.False(_irq6.Level);
        _ports.Write(0x3F2, 1, 0x0C);
        Assert.True(_irq6.Level);
    }

    [Fact]
    public void SeaBiosReadCrossesFromHeadZeroToHeadOneIntoGuestMemory()
    {
        // LBA 16, 4 sectors: C0 H0 S17-18, then multi-track continues on C0 H1 S1-2.
        var result = _bios.Transfer(0, 16, 4, 0x7C00, write: false);

        Assert.Equal(0, result[0] & 0xC0);
        Assert.Equal(new byte[] { 0, 1, 3, 2 }, result[3..7]); // C H R N of the next sector
        Assert.Equal(_disk.Bytes(16 * 512, 4 * 512), _memory.Bytes.AsSpan(0x7C00, 4 * 512).ToArray());
        Assert.Equal(0, _memory.Bytes[0x7C00 + 4 * 512]); // no byte beyond the DMA count
        Assert.Equal(0x80, Msr);
    }

    [Fact]
    public void WholeCylinderReadEndsAtTerminalCountOnTheNextCylinder()
    {
        var result = _bios.Transfer(0, 36 * 3, 36, 0x10000, write: false);
        Assert.Equal(0, result[0] & 0xC0);
        Assert.Equal(new byte[] { 4, 0, 1, 2 }, result[3..7]);
        Assert.Equal(_disk.Bytes(108 * 512, 36 * 512), _memory.Bytes.AsSpan(0x10000, 36 * 512).ToArray());
    }

    [Fact]
    public void TransferRunningPastTheCylinderWithoutTerminalCountEndsAbnormally()
    {
        _bios.Transfer(0, 0, 1, 0x8000, write: false);
        _bios.DmaFloppy(0x20000, 40 * 512, isWrite: false);
        var result = _bios.DrivePio(0, [0xE6, 0, 0, 0, 1, 2, 18, 0x1B, 0xFF], 7, waitIrq: true);
        Assert.Equal(0x40, result[0] & 0xC0);
        Assert.Equal(0x80, result[1]); // EN: end of cylinder
        Assert.Equal(_disk.Bytes(0, 36 * 512), _memory.Bytes.AsSpan(0x20000, 36 * 512).ToArray());
    }

    [Fact]
    public void SeaBiosWriteLandsInTheImage()
    {
        for (int i = 0; i < 3 * 512; i++) _memory.Bytes[0x9000 + i] = (byte)(i * 31 + 5);
        var result = _bios.Transfer(0, 40, 3, 0x9000, write: true);
        Assert.Equal(0, result[0] & 0xC0);
        Assert.Equal(_memory.Bytes.AsSpan(0x9000, 3 * 512).ToArray(), _disk.Bytes(40 * 512, 3 * 512));
        Assert.Equal(MemoryDisk.Pattern(43 * 512), _disk.Bytes(43 * 512, 1)[0]);
    }

    [Fact]
    public void WriteProtectedMediumRefusesWritesWithNotWritable()
    {
        var t = new FloppyControllerTests(new MemoryDisk(1474560, readOnly: true));
        var before = t._disk.Bytes(0, 512);
        var result = t._bios.Transfer(0, 0, 1, 0x9000, write: true);
        Assert.Equal(0x40, result[0] & 0xC0);
        Assert.Equal(0x02, result[1] & 0x02);
        Assert.Equal(before, t._disk.Bytes(0, 512));
        var st3 = t.Command(0x04, 0x00);
        Assert.Equal(0x40, st3[0] & 0x40); // SENSE DRIVE STATUS: write protected
    }

    [Fact]
    public void ReadIdOnlyFindsTheMediumAtItsDataRate()
    {
        // A 720K diskette in a 1.44M drive: SeaBIOS tries 500 kb/s first, then falls back to 250 kb/s.
        var disk = new MemoryDisk(737280);
        var t = new FloppyControllerTests(disk, new FloppyDrive(FloppyDriveType.Drive1440K, disk));
        t._bios.DoRecalibrate(0);
        var wrong = t._bios.DoReadId(0, rate: 0);
        Assert.Equal(0x40, wrong[0] & 0xC0);
        Assert.Equal(0x01, wrong[1]); // missing address mark
        var right = t._bios.DoReadId(0, rate: 2);
        Assert.Equal(0, right[0] & 0xC0);
        Assert.Equal(new byte[] { 0, 0, 2 }, new[] { right[3], right[4], right[6] });

        t._bios.Spt = 9;
        t._bios.DataRate = 2;
        var read = t._bios.Transfer(0, 9 * 2 * 5 + 4, 2, 0x7C00, write: false);
        Assert.Equal(0, read[0] & 0xC0);
        Assert.Equal(disk.Bytes(94 * 512, 1024), t._memory.Bytes.AsSpan(0x7C00, 1024).ToArray());
    }

    [Fact]
    public void DiskChangeLineClearsOnAStepWithMediaAndSetsOnEject()
    {
        _bios.EnableController();
        Assert.Equal(0x80, Dir & 0x80);
        _bios.DoRecalibrate(0);            // already on track 0: no step pulse
        Assert.Equal(0x80, Dir & 0x80);
        _bios.DoSeek(0, 1);
        Assert.Equal(0x00, Dir & 0x80);
        _bios.DoSeek(0, 0);
        Assert.Equal(0x00, Dir & 0x80);
        _fdc.DriveA!.Eject();
        Assert.Equal(0x80, Dir & 0x80);
        _bios.DoSeek(0, 3);                // no medium: stepping does not clear it
        Assert.Equal(0x80, Dir & 0x80);
        _fdc.DriveA.Insert(new MemoryDisk(1474560));
        _bios.DoSeek(0, 4);
        Assert.Equal(0x00, Dir & 0x80);
    }

    [Fact]
    public void MainStatusRegisterFollowsCommandExecutionAndResultPhases()
    {
        _bios.EnableController();
        Assert.Equal(0x80, Msr);
        _ports.Write(0x3F5, 1, 0x0F);
        Assert.Equal(0x90, Msr);           // command in progress, more bytes wanted
        _ports.Write(0x3F5, 1, 0x00);
        _ports.Write(0x3F5, 1, 0x05);
        Assert.Equal(0x81, Msr);           // drive 0 seeking until SENSE INTERRUPT
        Assert.True(_irq6.Level);
        Assert.Equal(new byte[] { 0x20, 5 }, Command(0x08));
        Assert.Equal(0x80, Msr);
        _ports.Write(0x3F5, 1, 0x10);      // VERSION
        Assert.Equal(0xD0, Msr);           // result byte waiting
        Assert.Equal(0x90, (byte)_ports.Read(0x3F5, 1));
        Assert.Equal(0x80, Msr);
    }

    [Fact]
    public void SpecifyConfigurePerpendicularAndLockShowInDumpreg()
    {
        _bios.EnableController();
        Command(0x03, 0xAF, 0x02);
        Command(0x13, 0x00, 0x57, 0x09);
        Command(0x12, 0x84);               // OW: drive 0 perpendicular
        Assert.Equal(new byte[] { 0x10 }, Command(0x94));
        _bios.DoSeek(0, 7);
        var dump = Command(0x0E);
        Assert.Equal(new byte[] { 7, 0, 0, 0, 0xAF, 0x02 }, dump[..6]);
        Assert.Equal(0x80 | 0x04, dump[7]);
        Assert.Equal(0x57, dump[8]);
        Assert.Equal(0x09, dump[9]);

        _ports.Write(0x3F4, 1, 0x80);      // DSR software reset: LOCK keeps CONFIGURE
        for (int i = 0; i < 4; i++) Command(0x08);
        dump = Command(0x0E);
        Assert.Equal(0x57, dump[8]);
        Assert.Equal(0x84, dump[7]);

        Assert.Equal(new byte[] { 0x00 }, Command(0x14));
        _ports.Write(0x3F4, 1, 0x80);
        for (int i = 0; i < 4; i++) Command(0x08);
        dump = Command(0x0E);
        Assert.Equal(0x20, dump[8]);       // back to the reset default
        Assert.Equal(0, dump[9]);
    }

    [Fact]
    public void InvalidCommandsAnswerWithSt0Invalid()
    {
        _bios.EnableController();          // consumed the first of the four reset reports
        Assert.Equal(new byte[] { 0x80 }, Command(0x1F));
        for (int drive = 1; drive < 4; drive++)
            Assert.Equal(new byte[] { (byte)(0xC0 | drive), 0 }, Command(0x08));
        Assert.Equal(new byte[] { 0x80 }, Command(0x08)); // nothing pending
        Assert.Equal(0x80, Msr);
    }

    [Fact]
    public void RecalibratingAMissingDriveReportsEquipmentCheck()
    {
        var r = _bios.DrivePio(1, [0x07, 0x01], 0, waitIrq: true);
        Assert.Equal(0x71, r[0]); // abnormal, seek end, equipment check, drive 1
    }

    [Fact]
    public void FormatTrackWritesTheFillByteIntoEverySectorNamedByTheIdTable()
    {
        _bios.DoRecalibrate(0);
        _bios.DoSeek(0, 2);
        for (int s = 0; s < 18; s++)
        {
            _memory.Bytes[0x6000 + s * 4] = 2;
            _memory.Bytes[0x6000 + s * 4 + 1] = 1;
            _memory.Bytes[0x6000 + s * 4 + 2] = (byte)(s + 1);
            _memory.Bytes[0x6000 + s * 4 + 3] = 2;
        }
        _bios.DmaFloppy(0x6000, 18 * 4, isWrite: true);
        var result = _bios.DrivePio(0, [0x4D, 0x04, 2, 18, 0x6C, 0xF6], 7, waitIrq: true);
        Assert.Equal(0, result[0] & 0xC0);
        long track = (2 * 2 + 1) * 18 * 512L;
        Assert.All(_disk.Bytes(track, 18 * 512), b => Assert.Equal(0xF6, b));
        Assert.Equal(MemoryDisk.Pattern(track - 1), _disk.Bytes(track - 1, 1)[0]);
        Assert.Equal(MemoryDisk.Pattern(track + 18 * 512), _disk.Bytes(track + 18 * 512, 1)[0]);
    }

    [Fact]
    public void NonDmaModeMovesSectorBytesThroughTheFifo()
    {
        _bios.EnableController();
        Command(0x03, 0xAF, 0x03);         // SPECIFY with ND: non-DMA
        _bios.DoRecalibrate(0);
        foreach (var b in new byte[] { 0x46, 0x00, 0x00, 0x00, 0x05, 2, 5, 0x1B, 0xFF }) _ports.Write(0x3F5, 1, b);
        Assert.Equal(0xF0, Msr);           // RQM, DIO, non-DMA, busy
        var data = new byte[512];
        for (int i = 0; i < 512; i++) data[i] = (byte)_ports.Read(0x3F5, 1);
        Assert.Equal(_disk.Bytes(4 * 512, 512), data);
        var result = CommandWithResult(0, []);
        Assert.Equal(7, result.Length);
        Assert.Equal(0x40, result[0] & 0xC0); // no TC without DMA: ends at EOT with EN
        Assert.Equal(0x80, result[1]);
    }

    [Fact]
    public void SnapshotRestoresPositionsAndRegisters()
    {
        _bios.EnableController();
        Command(0x03, 0xDF, 0x02);
        _bios.DoSeek(0, 9);
        _ports.Write(0x3F7, 1, 0x02);
        var stream = new MemoryStream();
        _fdc.SaveState(new StateWriter(stream));

        var other = new FloppyControllerTests(new MemoryDisk(1474560));
        stream.Position = 0;
        other._fdc.LoadState(new StateReader(stream, "fdc"), 1);
        Assert.Equal(Command(0x0E), other.Command(0x0E));
        Assert.Equal(0x00, other.Dir & 0x80);

        var truncated = new MemoryStream(stream.ToArray()[..20]);
        var e = Assert.Throws<StateFormatException>(() => other._fdc.LoadState(new StateReader(truncated, "fdc"), 1));
        Assert.Contains("fdc", e.Message);
        Assert.Throws<StateFormatException>(() => other._fdc.LoadState(new StateReader(new MemoryStream(stream.ToArray()), "fdc"), 2));
    }

    [Fact]
    public void ImpliedSeekMovesTheHeadWhenConfigureEnablesIt()
    {
        _bios.DoRecalibrate(0);
        Command(0x13, 0x00, 0x60, 0x00);   // EIS on, FIFO off
        _bios.DmaFloppy(0x8000, 512, isWrite: false);
        var r = _bios.DrivePio(0, [0xE6, 0x00, 5, 0, 1, 2, 1, 0x1B, 0xFF], 7, waitIrq: true);
        Assert.Equal(0x20, r[0] & 0xE0);   // normal termination, seek end
        Assert.Equal(5, Command(0x0E)[0]); // PCN of drive 0
        Assert.Equal(_disk.Bytes(5 * 36 * 512L, 512), _memory.Bytes.AsSpan(0x8000, 512).ToArray());
    }

    [Fact]
    public void ReadIdReportsSuccessiveSectorsAsTheDiskTurns()
    {
        _bios.DoRecalibrate(0);
        _bios.DoSeek(0, 3);
        var first = _bios.DoReadId(0, 0, head: 1);
        var second = _bios.DoReadId(0, 0, head: 1);
        Assert.Equal(new byte[] { 3, 1, 2 }, first[3..6]);
        Assert.Equal(new byte[] { 3, 1, 3 }, second[3..6]);
        Assert.Equal(0x04, first[0] & 0x04); // head bit in ST0
    }

    [Fact]
    public void RelativeSeekStepsInAndOutFromThePresentCylinder()
    {
        _bios.DoSeek(0, 3);
        Assert.Equal(new byte[] { 0x20, 7 }, _bios.DrivePio(0, [0xCF, 0x00, 4], 0, waitIrq: true));
        Assert.Equal(new byte[] { 0x20, 0 }, _bios.DrivePio(0, [0x8F, 0x00, 10], 0, waitIrq: true));
        var st3 = Command(0x04, 0x04);
        Assert.Equal(0x10, st3[0] & 0x10); // track 0 signal
        Assert.Equal(0x04, st3[0] & 0x04); // head 1 as asked
    }

    [Fact]
    public void ReadTrackStartsAtTheFirstSectorOfTheTrack()
    {
        _bios.DoRecalibrate(0);
        _bios.DoSeek(0, 1);
        _bios.DmaFloppy(0x4000, 3 * 512, isWrite: false);
        var r = _bios.DrivePio(0, [0x42, 0x00, 1, 0, 9, 2, 18, 0x1B, 0xFF], 7, waitIrq: true);
        Assert.Equal(0, r[0] & 0xC0);
        Assert.Equal(_disk.Bytes(36 * 512, 3 * 512), _memory.Bytes.AsSpan(0x4000, 3 * 512).ToArray());
    }

    [Theory]
    [InlineData(1474560, 80, 2, 18, 4)]
    [InlineData(737280, 80, 2, 9, 3)]
    [InlineData(368640, 40, 2, 9, 1)]
    [InlineData(1228800, 80, 2, 15, 2)]
    [InlineData(2949120, 80, 2, 36, 5)]
    public void GeometryAndCmosTypeFollowTheImageSize(long size, int cylinders, int heads, int sectors, byte cmos)
    {
        var g = FloppyGeometry.FromImageSize(size);
        Assert.Equal((cylinders, heads, sectors), (g.Cylinders, g.Heads, g.SectorsPerTrack));
        Assert.Equal(cmos, FloppyDrive.ForImage(new MemoryDisk(size)).CmosType);
    }

    [Fact]
    public void UnsupportedImageSizeIsRefusedByName()
    {
        var e = Assert.Throws<StorageDeviceException>(() => FloppyDrive.ForImage(new MemoryDisk(1000000, name: "odd.img")));
        Assert.Contains("odd.img", e.Message);
        Assert.Contains("1000000", e.Message);
    }

    [Fact]
    public void CmosByteCarriesBothDriveTypes()
    {
        var t = new FloppyControllerTests(new MemoryDisk(1474560), null, new FloppyDrive(FloppyDriveType.Drive720K));
        Assert.Equal(0x43, t._fdc.CmosDriveTypes);
        Assert.Equal(0x40, _fdc.CmosDriveTypes);
    }
}
