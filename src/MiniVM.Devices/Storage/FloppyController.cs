using MiniVM.Block;

namespace MiniVM.Devices.Storage;

/// <summary>
/// Intel 82077AA floppy disk controller in PC/AT mode at 0x3F0-0x3F5 and 0x3F7 (0x3F6 is the IDE control
/// port), IRQ 6, DMA channel 2, up to two drives. Commands complete at once: seeks and transfers finish
/// inside the port write that starts them and raise the interrupt then, which the BIOS tolerates
/// (SeaBIOS floppy.c polls MSR and waits for IRQ 6 with interrupts enabled only in its wait loop).
/// Behaviour follows the 82077AA datasheet, with QEMU's hw/block/fdc.c as the reference where it is vague.
/// </summary>
public sealed class FloppyController : IPortDevice, IDmaClient, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    public const int DmaChannel = 2;
    private const int SectorSize = FloppyGeometry.SectorSize;

    // MSR bits (datasheet "Main Status Register").
    private const byte MsrRqm = 0x80, MsrDio = 0x40, MsrNonDma = 0x20, MsrBusy = 0x10;
    // DOR bits.
    private const byte DorNotReset = 0x04, DorDmaGate = 0x08;
    // Status register 0/1 bits.
    private const byte St0Abnormal = 0x40, St0Invalid = 0x80, St0Seek = 0x20, St0EquipmentCheck = 0x10;
    private const byte St1EndOfCylinder = 0x80, St1NoData = 0x04, St1NotWritable = 0x02, St1MissingAddress = 0x01;
    private const byte ConfigImpliedSeek = 0x40, ConfigDefault = 0x20; // EFIFO set: FIFO disabled after reset

    private enum Phase : byte { Command, Execution, Result }
    private enum Transfer : byte { None, Read, Write, Verify, Format }

    private readonly Dma8237 _dma;
    private readonly FloppyDrive?[] _drives = new FloppyDrive?[4];

    private readonly byte[] _fifo = new byte[16];   // command bytes in, result bytes out
    private readonly byte[] _sector = new byte[SectorSize];
    private Phase _phase;
    private int _pos, _len;

    private byte _dor, _tdr, _dataRate, _dsrExtra;
    private bool _intPending, _irqLevel;
    private byte _status0;
    private int _resetSenses;
    private byte _driveBusy;
    private byte _config = ConfigDefault, _precompTrack, _specify1, _specify2, _perpendicular;
    private bool _lock;

    // The transfer in the execution phase.
    private Transfer _transfer;
    private int _xferDrive;
    private byte _xferC, _xferH, _xferR, _eot, _fill, _formatLeft;
    private bool _multiTrack;
    private int _sectorPos;

    public FloppyController(Dma8237 dma, FloppyDrive? driveA, FloppyDrive? driveB = null)
    {
        _dma = dma;
        _drives[0] = driveA;
        _drives[1] = driveB;
        dma.Connect(DmaChannel, this);
        Reset();
    }

    /// <summary>The controller's INT line: ISA IRQ 6.</summary>
    public IrqOutput Irq6 { get; } = IrqOutput.Isa(6);

    public IReadOnlyList<IrqOutput> IrqOutputs => [Irq6];

    public string SectionId => "fdc";
    public int SectionVersion => 1;

    public FloppyDrive? DriveA => _drives[0];
    public FloppyDrive? DriveB => _drives[1];

    /// <summary>CMOS register 0x10: drive A type in the high nibble, drive B in the low one.</summary>
    public byte CmosDriveTypes => (byte)(((_drives[0]?.CmosType ?? 0) << 4) | (_drives[1]?.CmosType ?? 0));

    /// <summary>The interrupt output as the PIC sees it (DOR bit 3 gates it in AT mode).</summary>
    public bool InterruptAsserted => _irqLevel;

    public void Attach(PortBus ports)
    {
        ports.Register(0x3F0, 6, this);
        ports.Register(0x3F7, 1, this);
    }

    /// <summary>Machine (hardware) reset: every register at its power-on value, the controller out of reset with DMA and
    /// interrupts gated on (as QEMU leaves it), no interrupt pending. SPECIFY and LOCK survive only software resets.</summary>
    public void Reset()
    {
        _dor = DorNotReset | DorDmaGate;
        _tdr = 0;
        _dataRate = 0;
        _dsrExtra = 0;
        _lock = false;
        _perpendicular = 0;
        _specify1 = _specify2 = 0; // DMA mode: the BIOS never sends SPECIFY (SeaBIOS floppy.c)
        _eot = 0;
        SoftReset(raiseInterrupt: false);
    }

    // Software reset (DOR bit 2 or DSR bit 7): the datasheet's "reset" minus what LOCK preserves.
    private void SoftReset(bool raiseInterrupt)
    {
        _phase = Phase.Command;
        _pos = 0;
        _transfer = Transfer.None;
        _driveBusy = 0;
        _dma.SetRequest(DmaChannel, false);
        _intPending = false;
        _resetSenses = 0;
        if (!_lock) { _config = ConfigDefault; _precompTrack = 0; }
        _perpendicular &= 0xFC; // GAP and WGATE are cleared by a software reset; D0-D3 survive
        foreach (var d in _drives)
            if (d is not null) d.Head = 0;
        if (raiseInterrupt)
        {
            // Polling mode reports a ready change for each of the four drives (SENSE INTERRUPT ×4, ST0 = 0xC0 | drive).
            RaiseInterrupt(0xC0);
            _resetSenses = 4;
        }
        UpdateIrq();
    }

    private void RaiseInterrupt(byte status0)
    {
        _status0 = status0;
        _intPending = true;
        _resetSenses = 0;
        UpdateIrq();
    }

    private void UpdateIrq()
    {
        bool level = _intPending && (_dor & DorDmaGate) != 0 && (_dor & DorNotReset) != 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        Irq6.SetLevel(level);
    }

    private bool InReset => (_dor & DorNotReset) == 0;

    private bool NonDmaMode => (_specify2 & 1) != 0;

    private byte MainStatus()
    {
        if (InReset) return 0;
        byte busy = _driveBusy;
        return _phase switch
        {
            Phase.Command => (byte)(MsrRqm | (_pos > 0 ? MsrBusy : 0) | busy),
            Phase.Result => (byte)(MsrRqm | MsrDio | MsrBusy | busy),
            _ when NonDmaMode => (byte)(MsrRqm | MsrNonDma | MsrBusy | (_transfer == Transfer.Read ? MsrDio : 0) | busy),
            _ => (byte)(MsrBusy | busy), // waiting for DMA: no host access to the FIFO
        };
    }

    public uint ReadPort(ushort port, int size)
    {
        byte b = (port & 7) switch
        {
            0 => (byte)((_intPending ? 0x80 : 0) | (_drives[1] is null ? 0x40 : 0)), // SRA (PS/2 bits, as QEMU)
            1 => (byte)(0xC0 | ((_dor >> 4) & 3) | ((_dor & 1) << 5)),                  // SRB: motors, drive select
            2 => _dor,
            3 => _tdr,
            4 => MainStatus(),
            5 => ReadData(),
            7 => (byte)(Selected()?.MediaChanged ?? true ? 0x80 : 0),                  // DIR: bit 7 = disk changed
            _ => 0xFF,
        };
        return size == 1 ? b : b | (size == 2 ? 0xFF00u : 0xFFFFFF00u);
    }

    public void WritePort(ushort port, int size, uint value)
    {
        byte b = (byte)value;
        switch (port & 7)
        {
            case 2: WriteDor(b); break;
            case 3: if (!InReset) _tdr = (byte)(b & 3); break;
            case 4: WriteDsr(b); break;
            case 5: WriteData(b); break;
            case 7: if (!InReset) _dataRate = (byte)(b & 3); break; // CCR: only the rate bits exist in AT mode
        }
    }

    private FloppyDrive? Selected() => _drives[_dor & 3];

    private void WriteDor(byte value)
    {
        bool wasReset = InReset;
        _dor = value;
        if (wasReset && !InReset) SoftReset(raiseInterrupt: true);
        else if (!wasReset && InReset) { _phase = Phase.Command; _pos = 0; _transfer = Transfer.None; _dma.SetRequest(DmaChannel, false); }
        UpdateIrq();
        // The gate also connects DRQ: a transfer waiting for it may start now.
        if (_phase == Phase.Execution && !NonDmaMode && (_dor & DorDmaGate) != 0) _dma.SetRequest(DmaChannel, true);
    }

    private void WriteDsr(byte value)
    {
        if (InReset) return;
        _dataRate = (byte)(value & 3);
        _dsrExtra = (byte)(value & 0x7C);
        if ((value & 0x80) != 0) SoftReset(raiseInterrupt: true); // self-clearing software reset
    }

    // ----- command phase -----

    private static int CommandLength(byte cmd)
    {
        switch (cmd & 0x1F)
        {
            case 0x06: case 0x0C: case 0x16: case 0x02: return 9;           // READ DATA / READ DELETED / VERIFY / READ TRACK
            case 0x05: case 0x09: return 9;                                 // WRITE DATA / WRITE DELETED
            case 0x0D: return (cmd & 0xA0) == 0 ? 6 : 1;                    // FORMAT TRACK
            case 0x0A: return (cmd & 0xA0) == 0 ? 2 : 1;                    // READ ID
        }
        return cmd switch
        {
            0x03 => 3, 0x04 => 2, 0x07 => 2, 0x08 => 1, 0x0F => 3, 0x8F => 3, 0xCF => 3,
            0x0E => 1, 0x10 => 1, 0x12 => 2, 0x13 => 4, 0x14 => 1, 0x94 => 1, 0x18 => 1,
            _ => 1, // invalid: answered with ST0 = 0x80
        };
    }

    private void WriteData(byte value)
    {
        if (InReset) return;
        if (_phase == Phase.Execution)
        {
            if (NonDmaMode && (_transfer == Transfer.Write || _transfer == Transfer.Format)) PioWrite(value);
            return;
        }
        if (_phase != Phase.Command) return; // host must drain the result first (MSR DIO = 1)
        if (_pos == 0) _len = CommandLength(value);
        _fifo[_pos++] = value;
        if (_pos < _len) return;
        _pos = 0;
        Execute();
    }

    private byte ReadData()
    {
        if (InReset) return 0;
        if (_phase == Phase.Execution)
            return NonDmaMode && _transfer == Transfer.Read ? PioRead() : (byte)0;
        if (_phase != Phase.Result) return 0;
        byte b = _fifo[_pos++];
        // Reading result bytes clears the interrupt of the command that produced them.
        if (_intPending && _resetSenses == 0) { _intPending = false; UpdateIrq(); }
        if (_pos >= _len) { _phase = Phase.Command; _pos = 0; }
        return b;
    }

    private void SetResult(int length)
    {
        _phase = Phase.Result;
        _pos = 0;
        _len = length;
    }

    private void Execute()
    {
        byte cmd = _fifo[0];
        switch (cmd & 0x1F)
        {
            case 0x06: StartTransfer(Transfer.Read); return;
            case 0x05: StartTransfer(Transfer.Write); return;
            case 0x16: StartTransfer(Transfer.Verify); return;
            case 0x02: StartTransfer(Transfer.Read, wholeTrack: true); return;
            case 0x0C: case 0x09:
                // Deleted-data marks do not exist on an image: reads find no deleted sector, writes are refused.
                FinishTransferAt((byte)(St0Abnormal | DriveBits()), St1NoData, 0x00, _fifo[2], _fifo[3], _fifo[4], _fifo[5]);
                return;
            case 0x0D when CommandLength(cmd) == 6: StartFormat(); return;
            case 0x0A when CommandLength(cmd) == 2: ReadId(); return;
        }
        switch (cmd)
        {
            case 0x03: // SPECIFY
                _specify1 = _fifo[1];
                _specify2 = _fifo[2];
                return;
            case 0x04: SenseDriveStatus(); return;
            case 0x07: Recalibrate(); return;
            case 0x08: SenseInterrupt(); return;
            case 0x0F: Seek(_fifo[2]); return;
            case 0x8F: case 0xCF: RelativeSeek(outward: (cmd & 0x40) == 0); return;
            case 0x0E: DumpRegisters(); return;
            case 0x10: _fifo[0] = 0x90; SetResult(1); return;          // VERSION: enhanced controller
            case 0x18: _fifo[0] = 0x41; SetResult(1); return;          // PART ID, as QEMU reports
            case 0x12:                                                  // PERPENDICULAR MODE
                _perpendicular = (_fifo[1] & 0x80) != 0 ? (byte)(_fifo[1] & 0x3F) : (byte)((_perpendicular & 0x3C) | (_fifo[1] & 3));
                return;
            case 0x13:                                                  // CONFIGURE
                _config = (byte)(_fifo[2] & 0x7F);
                _precompTrack = _fifo[3];
                return;
            case 0x14: case 0x94:                                       // LOCK
                _lock = (cmd & 0x80) != 0;
                _fifo[0] = (byte)(_lock ? 0x10 : 0);
                SetResult(1);
                return;
            default:
                _fifo[0] = St0Invalid;
                SetResult(1);
                return;
        }
    }

    private int CommandDrive => _fifo[1] & 3;
    private int CommandHead => (_fifo[1] >> 2) & 1;
    private byte DriveBits() => (byte)(_fifo[1] & 7);

    private void SenseDriveStatus()
    {
        var d = _drives[CommandDrive];
        if (d is not null) d.Head = (byte)CommandHead;
        // ST3: WP, RDY (always on the 82077), T0, two-side, head, drive.
        _fifo[0] = (byte)(((d?.IsReadOnly ?? false) ? 0x40 : 0) | 0x20 | (d is not null && d.Track == 0 ? 0x10 : 0) | 0x08 | DriveBits());
        SetResult(1);
    }

    private void Recalibrate()
    {
        int ds = CommandDrive;
        var d = _drives[ds];
        _driveBusy |= (byte)(1 << ds);
        if (d is null)
        {
            // No drive answers TRK0: the controller gives up with equipment check.
            RaiseInterrupt((byte)(St0Abnormal | St0Seek | St0EquipmentCheck | ds));
            return;
        }
        d.StepTo(0);
        RaiseInterrupt((byte)(St0Seek | ds));
    }

    private void Seek(byte cylinder)
    {
        int ds = CommandDrive;
        var d = _drives[ds];
        _driveBusy |= (byte)(1 << ds);
        if (d is not null) { d.Head = (byte)CommandHead; d.StepTo(cylinder); }
        RaiseInterrupt((byte)(St0Seek | DriveBits()));
    }

    private void RelativeSeek(bool outward)
    {
        var d = _drives[CommandDrive];
        int from = d?.Track ?? 0;
        int to = outward ? Math.Max(0, from - _fifo[2]) : Math.Min(255, from + _fifo[2]);
        Seek((byte)to);
    }

    private void SenseInterrupt()
    {
        if (_resetSenses > 0)
        {
            int ds = 4 - _resetSenses;
            _resetSenses--;
            _fifo[0] = (byte)(0xC0 | ds);
            _fifo[1] = _drives[ds]?.Track ?? 0;
            _intPending = false;
            UpdateIrq();
            SetResult(2);
            return;
        }
        if (!_intPending)
        {
            _fifo[0] = St0Invalid;
            SetResult(1);
            return;
        }
        int drive = _status0 & 3;
        _fifo[0] = _status0;
        _fifo[1] = _drives[drive]?.Track ?? 0;
        _driveBusy &= (byte)~(1 << drive);
        _intPending = false;
        UpdateIrq();
        SetResult(2);
    }

    private void DumpRegisters()
    {
        for (int i = 0; i < 4; i++) _fifo[i] = _drives[i]?.Track ?? 0;
        _fifo[4] = _specify1;
        _fifo[5] = _specify2;
        _fifo[6] = _eot;
        _fifo[7] = (byte)((_lock ? 0x80 : 0) | _perpendicular);
        _fifo[8] = _config;
        _fifo[9] = _precompTrack;
        SetResult(10);
    }

    // ----- READ ID -----

    private void ReadId()
    {
        int ds = CommandDrive;
        var d = _drives[ds];
        if (d is null || d.Media is null || _dataRate != d.Geometry.DataRate || d.Track >= d.Geometry.Cylinders
            || CommandHead >= d.Geometry.Heads)
        {
            // No ID field found at this data rate (SeaBIOS media sense relies on this to find the format).
            FinishTransferAt((byte)(St0Abnormal | DriveBits()), St1MissingAddress, 0, d?.Track ?? 0, (byte)CommandHead, 1, 2);
            return;
        }
        d.Head = (byte)CommandHead;
        d.Sector = (byte)(d.Sector % d.Geometry.SectorsPerTrack + 1); // the disk turned since the last look
        FinishTransferAt(DriveBits(), 0, 0, d.Track, d.Head, d.Sector, 2);
    }

    // ----- data transfers -----

    private void StartTransfer(Transfer kind, bool wholeTrack = false)
    {
        int ds = CommandDrive;
        var d = _drives[ds];
        byte c = _fifo[2], h = _fifo[3], r = _fifo[4], n = _fifo[5];
        _eot = _fifo[6];
        _multiTrack = (_fifo[0] & 0x80) != 0;
        byte st0 = DriveBits();
        if ((_config & ConfigImpliedSeek) != 0 && d is not null && d.Track != c) { d.StepTo(c); st0 |= St0Seek; }

        if (d is null || d.Media is null || _dataRate != d.Geometry.DataRate)
        {
            FinishTransferAt((byte)(st0 | St0Abnormal), St1MissingAddress, 0, c, h, r, n);
            return;
        }
        var g = d.Geometry;
        if (n != 2 || c >= g.Cylinders || h >= g.Heads || r == 0 || r > g.SectorsPerTrack)
        {
            FinishTransferAt((byte)(st0 | St0Abnormal), St1NoData, 0, c, h, r, n);
            return;
        }
        if (kind == Transfer.Write && d.IsReadOnly)
        {
            FinishTransferAt((byte)(st0 | St0Abnormal), St1NotWritable, 0, c, h, r, n);
            return;
        }
        d.Head = h;
        _xferDrive = ds;
        // READ TRACK starts at the index hole, with the first sector of the track, whatever R says.
        _xferC = c; _xferH = h; _xferR = wholeTrack ? (byte)1 : r;
        _status0 = st0;
        _transfer = kind;
        _sectorPos = 0;
        _phase = Phase.Execution;

        if (kind == Transfer.Verify)
        {
            // VERIFY moves no data: it reads sectors to EOT (or to SC with EC=1) and checks their CRC.
            while (NextSector() == SectorStep.SameTrackOrHead) { }
            FinishTransfer(0, 0);
            return;
        }
        BeginExecution();
    }

    private void StartFormat()
    {
        int ds = CommandDrive;
        var d = _drives[ds];
        byte st0 = DriveBits();
        if (d is null || d.Media is null || _dataRate != d.Geometry.DataRate)
        {
            FinishTransferAt((byte)(st0 | St0Abnormal), St1MissingAddress, 0, d?.Track ?? 0, (byte)CommandHead, 1, _fifo[2]);
            return;
        }
        if (d.IsReadOnly)
        {
            FinishTransferAt((byte)(st0 | St0Abnormal), St1NotWritable, 0, d.Track, (byte)CommandHead, 1, _fifo[2]);
            return;
        }
        d.Head = (byte)CommandHead;
        _xferDrive = ds;
        _xferC = d.Track; _xferH = d.Head; _xferR = 1;
        _formatLeft = _fifo[3];
        _fill = _fifo[5];
        _status0 = st0;
        _transfer = Transfer.Format;
        _sectorPos = 0;
        _phase = Phase.Execution;
        if (_formatLeft == 0) { FinishTransfer(0, 0); return; }
        BeginExecution();
    }

    private void BeginExecution()
    {
        if (NonDmaMode)
        {
            if (_transfer == Transfer.Read) LoadSector();
            // Non-DMA transfers interrupt to ask for data (datasheet "non-DMA mode"); the host then polls RQM.
            _intPending = true;
            UpdateIrq();
            return;
        }
        if ((_dor & DorDmaGate) != 0) _dma.SetRequest(DmaChannel, true);
    }

    private FloppyDrive XferDrive => _drives[_xferDrive]!;

    private long XferOffset()
    {
        var g = XferDrive.Geometry;
        return (((long)_xferC * g.Heads + _xferH) * g.SectorsPerTrack + (_xferR - 1)) * SectorSize;
    }

    private void LoadSector() => ReadMedia(XferOffset(), _sector);

    private bool ReadMedia(long offset, Span<byte> buffer)
    {
        try { XferDrive.Media!.Read(offset, buffer); return true; }
        catch (Exception e) when (e is IOException or ImageFormatException) { buffer.Clear(); return false; }
    }

    private bool WriteMedia(long offset, ReadOnlySpan<byte> data)
    {
        try { XferDrive.Media!.Write(offset, data); return true; }
        catch (Exception e) when (e is IOException or ImageFormatException) { return false; }
    }

    private enum SectorStep { SameTrackOrHead, EndOfCylinder }

    // Advances C/H/R past the sector just transferred, as the datasheet's result table describes:
    // within the track R+1; at the track's last sector (EOT, or the medium's last, as QEMU wraps) R=1 and
    // either the other head (multi-track on head 0) or the next cylinder, which ends the command.
    private SectorStep NextSector()
    {
        var g = XferDrive.Geometry;
        int last = Math.Min(_eot == 0 ? g.SectorsPerTrack : _eot, g.SectorsPerTrack);
        if (_xferR < last) { _xferR++; return SectorStep.SameTrackOrHead; }
        _xferR = 1;
        if (_multiTrack && _xferH == 0 && g.Heads == 2) { _xferH = 1; XferDrive.Head = 1; return SectorStep.SameTrackOrHead; }
        if (_multiTrack) _xferH = 0;
        _xferC++;
        return SectorStep.EndOfCylinder;
    }

    public void ServiceDma(Dma8237 dma, int channel)
    {
        if (_phase != Phase.Execution || NonDmaMode || _transfer is Transfer.None or Transfer.Verify) return;
        Span<byte> id = stackalloc byte[4];
        while (true)
        {
            bool tc;
            switch (_transfer)
            {
                case Transfer.Read:
                {
                    bool ok = ReadMedia(XferOffset(), _sector);
                    int n = dma.WriteMemory(channel, _sector, out tc);
                    if (!ok) { FinishTransfer(St0Abnormal, 0x20 /* DE: data error */); return; }
                    if (n == 0 && !tc) return; // channel stopped (masked or wrong direction): wait to be serviced again
                    break;
                }
                case Transfer.Write:
                {
                    int n = dma.ReadMemory(channel, _sector, out tc);
                    if (n == 0 && !tc) return;
                    // A TC in mid-sector still writes the whole sector, the rest filled with zeroes (datasheet).
                    _sector.AsSpan(n).Clear();
                    if (!WriteMedia(XferOffset(), _sector)) { FinishTransfer(St0Abnormal, St1NotWritable); return; }
                    break;
                }
                default: // Format: four ID bytes (C, H, R, N) per sector
                {
                    int n = dma.ReadMemory(channel, id, out tc);
                    if (n == 0 && !tc) return;
                    if (n == 4 && !FormatSector(id)) return;
                    _formatLeft--;
                    if (tc || _formatLeft == 0) { FinishTransfer(0, 0); return; }
                    continue;
                }
            }
            var step = NextSector();
            if (tc) { FinishTransfer(0, 0); return; }
            if (step == SectorStep.EndOfCylinder) { FinishTransfer(St0Abnormal, St1EndOfCylinder); return; }
        }
    }

    // Writes one formatted sector: the fill byte at the address the ID names, if the medium has such a sector.
    private bool FormatSector(ReadOnlySpan<byte> id)
    {
        var g = XferDrive.Geometry;
        byte c = id[0], h = id[1], r = id[2];
        _xferC = c; _xferH = h; _xferR = r;
        if (id[3] != 2 || c >= g.Cylinders || h >= g.Heads || r == 0 || r > g.SectorsPerTrack) return true;
        _sector.AsSpan().Fill(_fill);
        if (WriteMedia(XferOffset(), _sector)) return true;
        FinishTransfer(St0Abnormal, St1NotWritable);
        return false;
    }

    private byte PioRead()
    {
        byte b = _sector[_sectorPos++];
        if (_intPending) { _intPending = false; UpdateIrq(); }
        if (_sectorPos < SectorSize) return b;
        _sectorPos = 0;
        // Without DMA there is no TC: the command runs to the end of the track or cylinder (EN is then normal).
        if (NextSector() == SectorStep.EndOfCylinder) FinishTransfer(St0Abnormal, St1EndOfCylinder);
        else LoadSector();
        return b;
    }

    private void PioWrite(byte value)
    {
        if (_intPending) { _intPending = false; UpdateIrq(); }
        if (_transfer == Transfer.Format)
        {
            _sector[_sectorPos++] = value;
            if (_sectorPos < 4) return;
            _sectorPos = 0;
            if (!FormatSector(_sector.AsSpan(0, 4))) return;
            if (--_formatLeft == 0) FinishTransfer(0, 0);
            return;
        }
        _sector[_sectorPos++] = value;
        if (_sectorPos < SectorSize) return;
        _sectorPos = 0;
        if (!WriteMedia(XferOffset(), _sector)) { FinishTransfer(St0Abnormal, St1NotWritable); return; }
        if (NextSector() == SectorStep.EndOfCylinder) FinishTransfer(St0Abnormal, St1EndOfCylinder);
    }

    private void FinishTransfer(byte st0Flags, byte st1) =>
        FinishTransferAt((byte)(_status0 | st0Flags | (_xferH << 2)), st1, 0, _xferC, _xferH, _xferR, 2);

    // Result phase of the read/write family: ST0 ST1 ST2 C H R N, then IRQ 6.
    private void FinishTransferAt(byte st0, byte st1, byte st2, byte c, byte h, byte r, byte n)
    {
        if (_transfer != Transfer.None) _dma.SetRequest(DmaChannel, false);
        _transfer = Transfer.None;
        st0 = (byte)((st0 & ~0x04) | ((h & 1) << 2));
        _fifo[0] = st0; _fifo[1] = st1; _fifo[2] = st2;
        _fifo[3] = c; _fifo[4] = h; _fifo[5] = r; _fifo[6] = n;
        SetResult(7);
        RaiseInterrupt(st0);
    }

    public void SaveState(StateWriter w)
    {
        w.Write((byte)_phase); w.Write(_pos); w.Write(_len);
        w.WriteBytes(_fifo); w.WriteBytes(_sector);
        w.Write(_dor); w.Write(_tdr); w.Write(_dataRate); w.Write(_dsrExtra);
        w.Write(_intPending); w.Write(_status0); w.Write(_resetSenses); w.Write(_driveBusy);
        w.Write(_config); w.Write(_precompTrack); w.Write(_specify1); w.Write(_specify2); w.Write(_perpendicular); w.Write(_lock);
        w.Write((byte)_transfer); w.Write(_xferDrive); w.Write(_xferC); w.Write(_xferH); w.Write(_xferR);
        w.Write(_eot); w.Write(_fill); w.Write(_formatLeft); w.Write(_multiTrack); w.Write(_sectorPos);
        for (int i = 0; i < 2; i++)
        {
            var d = _drives[i];
            w.Write(d is not null);
            if (d is null) continue;
            w.Write(d.Track); w.Write(d.Head); w.Write(d.Sector); w.Write(d.MediaChanged);
        }
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var phase = (Phase)r.ReadByte();
        int pos = r.ReadInt32InRange(0, 16, "pos"), len = r.ReadInt32InRange(0, 16, "len");
        var fifo = new byte[16]; r.ReadBytes(fifo);
        var sector = new byte[SectorSize]; r.ReadBytes(sector);
        byte dor = r.ReadByte(), tdr = r.ReadByte(), rate = r.ReadByte(), dsr = r.ReadByte();
        bool intPending = r.ReadBool(); byte status0 = r.ReadByte();
        int resetSenses = r.ReadInt32InRange(0, 4, "reset senses"); byte busy = r.ReadByte();
        byte config = r.ReadByte(), precomp = r.ReadByte(), spec1 = r.ReadByte(), spec2 = r.ReadByte(), perp = r.ReadByte();
        bool locked = r.ReadBool();
        var transfer = (Transfer)r.ReadByte();
        int xferDrive = r.ReadInt32InRange(0, 1, "transfer drive");
        byte xc = r.ReadByte(), xh = r.ReadByte(), xr = r.ReadByte(), eot = r.ReadByte(), fill = r.ReadByte(), left = r.ReadByte();
        bool mt = r.ReadBool();
        int sectorPos = r.ReadInt32InRange(0, SectorSize - 1, "sector position");
        if (phase > Phase.Result) throw new StateFormatException($"section {SectionId}: phase {(byte)phase} out of range");
        if (transfer > Transfer.Format) throw new StateFormatException($"section {SectionId}: transfer {(byte)transfer} out of range");
        if (rate > 3) throw new StateFormatException($"section {SectionId}: data rate {rate} out of range");
        var drives = new (byte Track, byte Head, byte Sector, bool Changed)[2];
        for (int i = 0; i < 2; i++)
        {
            bool present = r.ReadBool();
            if (present != (_drives[i] is not null))
                throw new StateFormatException($"section {SectionId}: drive {(char)('A' + i)} is {(present ? "present" : "absent")} in the state but not in this machine");
            if (present) drives[i] = (r.ReadByte(), r.ReadByte(), r.ReadByte(), r.ReadBool());
        }
        if (transfer != Transfer.None && _drives[xferDrive]?.Media is null)
            throw new StateFormatException($"section {SectionId}: a transfer is in progress on drive {(char)('A' + xferDrive)}, which has no medium");

        _phase = phase; _pos = pos; _len = len;
        fifo.CopyTo(_fifo, 0); sector.CopyTo(_sector, 0);
        _dor = dor; _tdr = tdr; _dataRate = rate; _dsrExtra = dsr;
        _intPending = intPending; _status0 = status0; _resetSenses = resetSenses; _driveBusy = busy;
        _config = config; _precompTrack = precomp; _specify1 = spec1; _specify2 = spec2; _perpendicular = perp; _lock = locked;
        _transfer = transfer; _xferDrive = xferDrive; _xferC = xc; _xferH = xh; _xferR = xr;
        _eot = eot; _fill = fill; _formatLeft = left; _multiTrack = mt; _sectorPos = sectorPos;
        for (int i = 0; i < 2; i++)
            if (_drives[i] is { } d) { d.Track = drives[i].Track; d.Head = drives[i].Head; d.Sector = drives[i].Sector; d.MediaChanged = drives[i].Changed; }
        _irqLevel = _intPending && (_dor & DorDmaGate) != 0 && (_dor & DorNotReset) != 0;
        Irq6.SetLevel(_irqLevel);
    }
}
