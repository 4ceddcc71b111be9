using System.Buffers.Binary;
using MiniVM.Block;

namespace MiniVM.Devices.Storage;

/// <summary>
/// An ATA hard disk on an IDE channel, backed by any block-layer image: IDENTIFY DEVICE, READ/WRITE SECTORS and
/// MULTIPLE in CHS, LBA28 and LBA48 forms, READ/WRITE DMA (+EXT) through the PIIX bus master, READ VERIFY, SET MULTIPLE MODE, INITIALIZE DEVICE
/// PARAMETERS, FLUSH CACHE (+EXT), SET FEATURES and the power/diagnostic commands a BIOS or OS sends.
/// Commands complete at once; the owning <see cref="IdeChannel"/> turns <see cref="InterruptPending"/> into INTRQ.
/// Register semantics follow ATA/ATAPI-6 (T13 1410D), identify words QEMU's hw/ide/core.c ide_identify.
/// </summary>
public sealed class AtaDrive : IdeDevice
{
    public const int SectorSize = 512;
    public const int MaxMultipleSectors = 16;
    private const int CacheSectors = 128;           // read-ahead window for PIO reads (64 KiB)
    private const long MaxLba48Sectors = 1L << 48;

    private enum Transfer : byte { None, Identify, Read, Write, DmaRead, DmaWrite }

    private readonly ushort _defaultCylinders, _defaultHeads, _defaultSectors;
    private readonly byte[] _buffer = new byte[CacheSectors * SectorSize];

    public AtaDrive(IBlockDriver disk, string model = "MiniVM HARDDISK", string serial = "MVM00001", string firmware = "1.0")
    {
        Disk = disk;
        if (disk.Size < SectorSize)
            throw new StorageDeviceException($"disk {disk.FileName}: {disk.Size} bytes is smaller than one 512-byte sector");
        TotalSectors = disk.Size / SectorSize;
        if (TotalSectors > MaxLba48Sectors)
            throw new StorageDeviceException($"disk {disk.FileName}: {TotalSectors} sectors exceed what LBA48 addresses");
        Model = model;
        Serial = serial;
        Firmware = firmware;
        // Geometry for an unpartitioned disk as QEMU guesses it (hw/block/hd-geometry.c): 16 heads, 63 sectors.
        long cylinders = TotalSectors / (16 * 63);
        _defaultCylinders = (ushort)Math.Clamp(cylinders, 2, 16383);
        _defaultHeads = 16;
        _defaultSectors = 63;
        PowerOnReset();
    }

    public IBlockDriver Disk { get; }
    public long TotalSectors { get; }
    public string Model { get; }
    public string Serial { get; }
    public string Firmware { get; }

    /// <summary>Default CHS geometry reported in IDENTIFY words 1, 3 and 6 (what a BIOS uses for INT 13h).</summary>
    public (int Cylinders, int Heads, int Sectors) Geometry => (_defaultCylinders, _defaultHeads, _defaultSectors);

    private ushort _curCylinders, _curHeads, _curSectors;
    private int _multiple;
    private bool _writeCache = true;
    private TransferMode _mode = TransferMode.Default;

    private Transfer _transfer;
    private long _xferLba;          // next sector to move between host and buffer
    private long _xferRemaining;    // sectors left in the command
    private int _blockSectors;      // sectors per DRQ block (1, or the multiple count)
    private bool _lba48, _chs;
    private int _dataPos, _dataEnd;
    private long _cacheLba = -1;    // first sector held in _buffer for reads
    private int _cacheCount;

    /// <summary>Power-on or hardware reset: defaults, signature, ready.</summary>
    internal override void PowerOnReset()
    {
        _writeCache = true;
        _mode = TransferMode.Default;
        SoftResetBegin();
        SoftResetEnd();
    }

    /// <summary>SRST asserted: the device goes busy and drops whatever it was doing.</summary>
    internal override void SoftResetBegin()
    {
        _transfer = Transfer.None;
        _cacheLba = -1;
        InterruptPending = false;
        Status = StBusy;
    }

    /// <summary>SRST released: the ATA signature (ATA-6 §9.12) and settings back to their defaults.</summary>
    internal override void SoftResetEnd()
    {
        _curCylinders = _defaultCylinders; _curHeads = _defaultHeads; _curSectors = _defaultSectors;
        _multiple = MaxMultipleSectors; // QEMU's ide_reset default, which SeaBIOS and Linux see
        WriteSignature();
        Status = StReady | StSeekDone;
    }

    private void WriteSignature()
    {
        SectorCount = 1; LbaLow = 1; LbaMid = 0; LbaHigh = 0;
        HobSectorCount = HobLbaLow = HobLbaMid = HobLbaHigh = 0;
        DeviceHead = 0;
        Error = ErrDiagPassed;
    }

    // ----- command execution -----

    internal override void ExecuteCommand(byte command)
    {
        InterruptPending = false;
        _transfer = Transfer.None;
        switch (command)
        {
            case 0x20: case 0x21: StartRead(lba48: false, multiple: false); break;   // READ SECTORS (with/without retry)
            case 0x24: StartRead(lba48: true, multiple: false); break;              // READ SECTORS EXT
            case 0xC4: StartRead(lba48: false, multiple: true); break;              // READ MULTIPLE
            case 0x29: StartRead(lba48: true, multiple: true); break;               // READ MULTIPLE EXT
            case 0x30: case 0x31: StartWrite(lba48: false, multiple: false); break;  // WRITE SECTORS
            case 0x34: StartWrite(lba48: true, multiple: false); break;             // WRITE SECTORS EXT
            case 0xC5: StartWrite(lba48: false, multiple: true); break;             // WRITE MULTIPLE
            case 0x39: StartWrite(lba48: true, multiple: true); break;              // WRITE MULTIPLE EXT
            case 0xC8: case 0xC9: StartDma(lba48: false, write: false); break;     // READ DMA (with/without retry)
            case 0x25: StartDma(lba48: true, write: false); break;                  // READ DMA EXT
            case 0xCA: case 0xCB: StartDma(lba48: false, write: true); break;       // WRITE DMA
            case 0x35: StartDma(lba48: true, write: true); break;                   // WRITE DMA EXT
            case 0x40: case 0x41: ReadVerify(lba48: false); break;                  // READ VERIFY SECTORS
            case 0x42: ReadVerify(lba48: true); break;                              // READ VERIFY SECTORS EXT
            case 0xC6: SetMultipleMode(); break;
            case 0x91: InitializeDeviceParameters(); break;
            case 0xE7: case 0xEA: FlushCache(); break;                              // FLUSH CACHE (+EXT)
            case 0xEF: SetFeatures(); break;
            case 0xEC: Identify(); break;
            case 0xF8: ReadNativeMax(lba48: false); break;
            case 0x27: ReadNativeMax(lba48: true); break;
            case 0x90:                                                              // EXECUTE DEVICE DIAGNOSTIC
                WriteSignature();
                Status = StReady | StSeekDone;
                InterruptPending = true;
                break;
            case 0xE5: case 0x98:                                                   // CHECK POWER MODE: active/idle
                SectorCount = 0xFF;
                Complete();
                break;
            case >= 0x10 and <= 0x1F:                                               // RECALIBRATE (obsolete, harmless)
            case >= 0x70 and <= 0x7F:                                               // SEEK
            case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0xE6:                  // STANDBY/IDLE (immediate), SLEEP
            case 0x94: case 0x95: case 0x96: case 0x97: case 0x99:
                Complete();
                break;
            default:
                // IDENTIFY PACKET DEVICE (A1h), PACKET (A0h), DEVICE RESET (08h), NOP, queued DMA and unknown commands:
                // an ATA disk without the PACKET feature set aborts them (ATA-6 §8), which is how hosts tell ATA from ATAPI.
                Abort(ErrAbort);
                break;
        }
    }

    private void Complete()
    {
        Status = StReady | StSeekDone;
        Error = 0;
        InterruptPending = true;
    }

    private void Abort(byte error)
    {
        _transfer = Transfer.None;
        Status = StReady | StSeekDone | StErr;
        Error = error;
        InterruptPending = true;
    }

    private long CommandSectorCount(bool lba48)
    {
        if (lba48) { int n = (HobSectorCount << 8) | SectorCount; return n == 0 ? 65536 : n; }
        return SectorCount == 0 ? 256 : SectorCount;
    }

    // The starting sector of a command, or -1 for an address that names no sector (→ IDNF).
    private long CommandLba(bool lba48, out bool chs)
    {
        chs = false;
        if (lba48)
            return ((long)HobLbaHigh << 40) | ((long)HobLbaMid << 32) | ((long)HobLbaLow << 24) | ((long)LbaHigh << 16) | ((long)LbaMid << 8) | LbaLow;
        if ((DeviceHead & 0x40) != 0)
            return ((long)(DeviceHead & 0x0F) << 24) | ((long)LbaHigh << 16) | ((long)LbaMid << 8) | LbaLow;
        chs = true;
        int cylinder = (LbaHigh << 8) | LbaMid, head = DeviceHead & 0x0F, sector = LbaLow;
        if (sector == 0 || sector > _curSectors || head >= _curHeads) return -1;
        return ((long)cylinder * _curHeads + head) * _curSectors + sector - 1;
    }

    // Validates the address range of a read/write/verify; on failure the command ends with IDNF (ATA-6 §8.32).
    private bool SetUpRange(bool lba48, out long lba, out long count)
    {
        count = CommandSectorCount(lba48);
        lba = CommandLba(lba48, out _chs);
        _lba48 = lba48;
        if (lba < 0 || lba + count > TotalSectors || (!lba48 && lba + count > 1L << 28))
        {
            Abort(ErrIdNotFound);
            return false;
        }
        return true;
    }

    private void StartRead(bool lba48, bool multiple)
    {
        if (multiple && _multiple == 0) { Abort(ErrAbort); return; }
        if (!SetUpRange(lba48, out long lba, out long count)) return;
        _transfer = Transfer.Read;
        _xferLba = lba;
        _xferRemaining = count;
        _blockSectors = multiple ? _multiple : 1;
        _cacheLba = -1;
        NextReadBlock();
    }

    // Makes the next DRQ block readable, or ends the command when none is left.
    private void NextReadBlock()
    {
        if (_xferRemaining == 0)
        {
            _transfer = Transfer.None;
            Status = StReady | StSeekDone; // PIO-in: no interrupt after the last block (ATA-6 §9.7)
            return;
        }
        int n = (int)Math.Min(_blockSectors, _xferRemaining);
        if (_cacheLba < 0 || _xferLba < _cacheLba || _xferLba + n > _cacheLba + _cacheCount)
        {
            int fill = (int)Math.Min(CacheSectors, _xferRemaining);
            fill = Math.Max(fill, n);
            try { Disk.Read(_xferLba * SectorSize, _buffer.AsSpan(0, fill * SectorSize)); }
            catch (Exception e) when (e is IOException or ImageFormatException)
            {
                _cacheLba = -1;
                SetAddress(_xferLba);
                Abort(ErrUncorrectable);
                return;
            }
            _cacheLba = _xferLba;
            _cacheCount = fill;
        }
        _dataPos = (int)(_xferLba - _cacheLba) * SectorSize;
        _dataEnd = _dataPos + n * SectorSize;
        _xferLba += n;
        _xferRemaining -= n;
        SetAddress(_xferLba);
        SectorCount = (byte)_xferRemaining;
        if (_lba48) HobSectorCount = (byte)(_xferRemaining >> 8);
        Status = StReady | StSeekDone | StDrq;
        InterruptPending = true;
    }

    private void StartWrite(bool lba48, bool multiple)
    {
        if (multiple && _multiple == 0) { Abort(ErrAbort); return; }
        if (!SetUpRange(lba48, out long lba, out long count)) return;
        if (Disk.IsReadOnly) { Abort(ErrAbort); return; }
        _transfer = Transfer.Write;
        _xferLba = lba;
        _xferRemaining = count;
        _blockSectors = multiple ? _multiple : 1;
        _cacheLba = -1;
        // PIO-out: the first block is requested without an interrupt (ATA-6 §9.8).
        ExpectWriteBlock();
    }

    private void ExpectWriteBlock()
    {
        int n = (int)Math.Min(_blockSectors, _xferRemaining);
        _dataPos = 0;
        _dataEnd = n * SectorSize;
        Status = StReady | StSeekDone | StDrq;
    }

    private void WriteBlockDone()
    {
        int n = _dataEnd / SectorSize;
        try { Disk.Write(_xferLba * SectorSize, _buffer.AsSpan(0, _dataEnd)); }
        catch (Exception e) when (e is IOException or ImageFormatException)
        {
            SetAddress(_xferLba);
            Abort(ErrAbort);
            return;
        }
        _xferLba += n;
        _xferRemaining -= n;
        SetAddress(_xferLba);
        SectorCount = (byte)_xferRemaining;
        if (_lba48) HobSectorCount = (byte)(_xferRemaining >> 8);
        InterruptPending = true;
        if (_xferRemaining == 0)
        {
            _transfer = Transfer.None;
            Status = StReady | StSeekDone;
            return;
        }
        ExpectWriteBlock();
    }

    internal override bool DmaPending => _transfer is Transfer.DmaRead or Transfer.DmaWrite;

    // READ/WRITE DMA: the range is checked now; the data moves when the bus master is started (RunDma).
    // Status DRQ while waiting, as QEMU's ide_sector_start_dma leaves it.
    private void StartDma(bool lba48, bool write)
    {
        if (!SetUpRange(lba48, out long lba, out long count)) return;
        if (write && Disk.IsReadOnly) { Abort(ErrAbort); return; }
        _transfer = write ? Transfer.DmaWrite : Transfer.DmaRead;
        _xferLba = lba;
        _xferRemaining = count;
        _cacheLba = -1;
        Status = StReady | StSeekDone | StDrq;
    }

    internal override void RunDma(IDmaBus bus)
    {
        bool write = _transfer == Transfer.DmaWrite;
        while (_xferRemaining > 0)
        {
            int n = (int)Math.Min(CacheSectors, _xferRemaining);
            var chunk = _buffer.AsSpan(0, n * SectorSize);
            try
            {
                if (write)
                {
                    if (!bus.FromGuest(chunk)) { DmaFailed(); return; }
                    Disk.Write(_xferLba * SectorSize, chunk);
                }
                else
                {
                    Disk.Read(_xferLba * SectorSize, chunk);
                    if (!bus.ToGuest(chunk)) { DmaFailed(); return; }
                }
            }
            catch (Exception e) when (e is IOException or ImageFormatException)
            {
                SetAddress(_xferLba);
                Abort(write ? ErrAbort : ErrUncorrectable);
                return;
            }
            _xferLba += n;
            _xferRemaining -= n;
        }
        _transfer = Transfer.None;
        SetAddress(_xferLba);
        SectorCount = 0;
        if (_lba48) HobSectorCount = 0;
        Complete();
    }

    // The PRD table ended before the command's data, or named memory that is not there (the bus master has set
    // its error bit): the command ends with ABRT, as QEMU's ide_dma_error.
    private void DmaFailed()
    {
        SetAddress(_xferLba);
        Abort(ErrAbort);
    }

    private void ReadVerify(bool lba48)
    {
        if (!SetUpRange(lba48, out long lba, out long count)) return;
        SetAddress(lba + count - 1);
        Complete();
    }

    // After a transfer the address registers name the next sector, as QEMU's ide_set_sector leaves them.
    private void SetAddress(long lba)
    {
        if (_chs)
        {
            long cylinder = lba / (_curHeads * _curSectors);
            long rest = lba % (_curHeads * _curSectors);
            LbaHigh = (byte)(cylinder >> 8);
            LbaMid = (byte)cylinder;
            DeviceHead = (byte)((DeviceHead & 0xF0) | (int)(rest / _curSectors));
            LbaLow = (byte)(rest % _curSectors + 1);
        }
        else if (_lba48)
        {
            LbaLow = (byte)lba; LbaMid = (byte)(lba >> 8); LbaHigh = (byte)(lba >> 16);
            HobLbaLow = (byte)(lba >> 24); HobLbaMid = (byte)(lba >> 32); HobLbaHigh = (byte)(lba >> 40);
        }
        else
        {
            LbaLow = (byte)lba; LbaMid = (byte)(lba >> 8); LbaHigh = (byte)(lba >> 16);
            DeviceHead = (byte)((DeviceHead & 0xF0) | (int)((lba >> 24) & 0x0F));
        }
    }

    private void SetMultipleMode()
    {
        int n = SectorCount;
        // Power-of-two block sizes up to IDENTIFY word 47; 0 disables READ/WRITE MULTIPLE.
        if (n > MaxMultipleSectors || (n & (n - 1)) != 0) { Abort(ErrAbort); return; }
        _multiple = n;
        Complete();
    }

    private void InitializeDeviceParameters()
    {
        int sectors = SectorCount, heads = (DeviceHead & 0x0F) + 1;
        if (sectors == 0) { Abort(ErrAbort); return; }
        _curSectors = (ushort)sectors;
        _curHeads = (ushort)heads;
        _curCylinders = (ushort)Math.Min(TotalSectors / (heads * sectors), 65535);
        Complete();
    }

    private void FlushCache()
    {
        try { Disk.Flush(); }
        catch (Exception e) when (e is IOException or ImageFormatException) { Abort(ErrAbort); return; }
        Complete();
    }

    private void SetFeatures()
    {
        switch (Feature)
        {
            case 0x02: _writeCache = true; break;
            case 0x82: _writeCache = false; break;
            case 0x03:
                // Transfer mode (ATA-6 §8.46.11): PIO default/flow-control modes, multiword DMA 0-2, Ultra DMA 0-5.
                if (TransferMode.FromSetFeatures(SectorCount) is not { } mode) { Abort(ErrAbort); return; }
                _mode = mode;
                break;
            case 0x55: case 0xAA: // read look-ahead off/on
            case 0x66: case 0xCC: // reverting to power-on defaults off/on
                break;
            default:
                Abort(ErrAbort);
                return;
        }
        Complete();
    }

    private void ReadNativeMax(bool lba48)
    {
        if (!lba48 && (DeviceHead & 0x40) == 0) { Abort(ErrAbort); return; }
        long max = Math.Min(TotalSectors, lba48 ? MaxLba48Sectors : 1L << 28) - 1;
        _chs = false;
        _lba48 = lba48;
        SetAddress(max);
        Complete();
    }

    private void Identify()
    {
        BuildIdentify(_buffer.AsSpan(0, SectorSize));
        _transfer = Transfer.Identify;
        _cacheLba = -1;
        _dataPos = 0;
        _dataEnd = SectorSize;
        Status = StReady | StSeekDone | StDrq;
        Error = 0;
        InterruptPending = true;
    }

    /// <summary>The 256 IDENTIFY DEVICE words (ATA-6 §8.15, values as QEMU's ide_identify).</summary>
    public void BuildIdentify(Span<byte> data)
    {
        if (data.Length < SectorSize) throw new ArgumentException("IDENTIFY data is 512 bytes", nameof(data));
        data = data[..SectorSize];
        data.Clear();
        W(data, 0, 0x0040);                                   // fixed device, not removable
        W(data, 1, _defaultCylinders);
        W(data, 3, _defaultHeads);
        W(data, 4, SectorSize * _defaultSectors);
        W(data, 5, SectorSize);
        W(data, 6, _defaultSectors);
        AtaString(data[20..40], Serial);                // words 10-19
        W(data, 20, 3); W(data, 21, 512); W(data, 22, 4);
        AtaString(data[46..54], Firmware);              // words 23-26
        AtaString(data[54..94], Model);                 // words 27-46
        W(data, 47, 0x8000 | MaxMultipleSectors);
        W(data, 48, 1);                                       // 32-bit PIO
        W(data, 49, (1 << 11) | (1 << 9) | (1 << 8));         // IORDY, LBA, DMA
        W(data, 51, 0x200); W(data, 52, 0x200);
        W(data, 53, 0x0007);                                  // words 54-58, 64-70 and 88 valid
        W(data, 54, _curCylinders); W(data, 55, _curHeads); W(data, 56, _curSectors);
        uint chsCapacity = (uint)Math.Min((long)_curCylinders * _curHeads * _curSectors, uint.MaxValue);
        W(data, 57, (int)(chsCapacity & 0xFFFF)); W(data, 58, (int)(chsCapacity >> 16));
        if (_multiple != 0) W(data, 59, 0x100 | _multiple);
        uint lba28 = (uint)Math.Min(TotalSectors, (1L << 28) - 1);
        W(data, 60, (int)(lba28 & 0xFFFF)); W(data, 61, (int)(lba28 >> 16));
        W(data, 63, _mode.MultiwordWord);                     // multiword DMA 0-2 supported, the selected one
        W(data, 64, 0x03);                                    // PIO 3 and 4
        W(data, 65, 120); W(data, 66, 120); W(data, 67, 120); W(data, 68, 120);
        W(data, 80, 0xF0);                                    // ATA-4 .. ATA-7
        W(data, 81, 0x16);
        W(data, 82, (1 << 14) | (1 << 5));                    // NOP, write cache
        W(data, 83, (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10)); // FLUSH CACHE EXT, FLUSH CACHE, LBA48
        W(data, 84, 1 << 14);
        W(data, 85, (1 << 14) | (_writeCache ? 1 << 5 : 0));
        W(data, 86, (1 << 13) | (1 << 12) | (1 << 10));
        W(data, 87, 1 << 14);
        W(data, 88, _mode.UltraWord);                         // Ultra DMA 0-5 supported, the selected one
        W(data, 93, 1 | (1 << 14) | 0x2000);                  // hardware reset result, as QEMU
        ulong total = (ulong)TotalSectors;
        W(data, 100, (int)(total & 0xFFFF)); W(data, 101, (int)((total >> 16) & 0xFFFF));
        W(data, 102, (int)((total >> 32) & 0xFFFF)); W(data, 103, (int)(total >> 48));
        // Word 255: signature A5h and a checksum making all 512 bytes sum to zero (ATA-6 §8.15.61).
        data[510] = 0xA5;
        byte sum = 0;
        for (int i = 0; i < 511; i++) sum += data[i];
        data[511] = (byte)-sum;
    }

    private static void W(Span<byte> data, int word, int value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(data[(word * 2)..], (ushort)value);

    // ATA strings: space padded, two characters per word with the first in the high byte.
    private static void AtaString(Span<byte> field, string text)
    {
        for (int i = 0; i < field.Length; i++)
        {
            char c = i < text.Length ? text[i] : ' ';
            field[i ^ 1] = c is >= ' ' and <= '~' ? (byte)c : (byte)' ';
        }
    }

    // ----- data port -----

    internal override uint ReadData(int size)
    {
        if (_transfer is not (Transfer.Read or Transfer.Identify) || !DataRequest) return Floating(size);
        uint value = 0;
        for (int i = 0; i < size && _dataPos < _dataEnd; i++) value |= (uint)_buffer[_dataPos++] << (8 * i);
        if (_dataPos >= _dataEnd)
        {
            if (_transfer == Transfer.Identify) { _transfer = Transfer.None; Status = StReady | StSeekDone; }
            else NextReadBlock();
        }
        return value;
    }

    internal override void WriteData(int size, uint value)
    {
        if (_transfer != Transfer.Write || !DataRequest) return;
        for (int i = 0; i < size && _dataPos < _dataEnd; i++) _buffer[_dataPos++] = (byte)(value >> (8 * i));
        if (_dataPos >= _dataEnd) WriteBlockDone();
    }

    // ----- state -----

    internal override void SaveState(StateWriter w)
    {
        SaveRegisters(w);
        w.Write(_mode.Code);
        w.Write(_curCylinders); w.Write(_curHeads); w.Write(_curSectors); w.Write(_multiple); w.Write(_writeCache);
        w.Write((byte)_transfer); w.Write(_xferLba); w.Write(_xferRemaining); w.Write(_blockSectors);
        w.Write(_lba48); w.Write(_chs); w.Write(_dataPos); w.Write(_dataEnd);
        // The buffer matters only while a command moves data. Without it the read-ahead cache is dropped (ReadState),
        // so it is saved as dropped: a restored drive then saves the same bytes (savevm/loadvm state hashes, issue #6).
        int live = _transfer == Transfer.None ? 0 : _buffer.Length;
        w.Write(live == 0 ? -1L : _cacheLba); w.Write(live == 0 ? 0 : _cacheCount);
        w.Write(live);
        w.WriteBytes(_buffer.AsSpan(0, live));
    }

    /// <summary>Reads and validates this drive's state; the returned action applies it (so a channel can validate both drives first).</summary>
    internal override Action ReadState(StateReader r)
    {
        string id = r.SectionId;
        var registers = ReadRegisters(r);
        byte modeCode = r.ReadByte();
        var mode = TransferMode.FromSetFeatures(modeCode) ?? throw new StateFormatException($"section {id}: transfer mode {modeCode:X2}h");
        ushort cyl = r.ReadUInt16(), heads = r.ReadUInt16(), secs = r.ReadUInt16();
        int multiple = r.ReadInt32InRange(0, MaxMultipleSectors, "multiple count"); bool wcache = r.ReadBool();
        var transfer = (Transfer)r.ReadByte();
        long xferLba = r.ReadInt64(), remaining = r.ReadInt64();
        int block = r.ReadInt32InRange(0, MaxMultipleSectors, "block sectors");
        bool lba48 = r.ReadBool(), chs = r.ReadBool();
        int dataPos = r.ReadInt32InRange(0, _buffer.Length, "data position"), dataEnd = r.ReadInt32InRange(0, _buffer.Length, "data end");
        long cacheLba = r.ReadInt64(); int cacheCount = r.ReadInt32InRange(0, CacheSectors, "cache count");
        int live = r.ReadInt32();
        if (live != 0 && live != _buffer.Length) throw new StateFormatException($"section {id}: buffer of {live} bytes");
        var buffer = new byte[live];
        r.ReadBytes(buffer);
        if (transfer > Transfer.DmaWrite) throw new StateFormatException($"section {id}: transfer kind {(byte)transfer} out of range");
        if (heads is 0 or > 16 || secs is 0 or > 255) throw new StateFormatException($"section {id}: geometry {heads} heads × {secs} sectors out of range");
        if (xferLba < 0 || remaining < 0 || xferLba + remaining > TotalSectors || dataPos > dataEnd)
            throw new StateFormatException($"section {id}: transfer position out of range for this disk");
        if (transfer != Transfer.None && live == 0) throw new StateFormatException($"section {id}: transfer without its buffer");

        return () =>
        {
        registers();
        _mode = mode;
        _curCylinders = cyl; _curHeads = heads; _curSectors = secs; _multiple = multiple; _writeCache = wcache;
        _transfer = transfer; _xferLba = xferLba; _xferRemaining = remaining; _blockSectors = block;
        _lba48 = lba48; _chs = chs; _dataPos = dataPos; _dataEnd = dataEnd;
        _cacheLba = live == 0 ? -1 : cacheLba; _cacheCount = cacheCount;
        buffer.CopyTo(_buffer, 0);
        };
    }
}
