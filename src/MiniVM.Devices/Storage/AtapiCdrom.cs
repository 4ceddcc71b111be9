using System.Buffers.Binary;
using MiniVM.Block;

namespace MiniVM.Devices.Storage;

/// <summary>
/// An ATAPI CD-ROM drive on an IDE channel (ATA/ATAPI-6 PACKET feature set, T13 1410D §8.23 and §9.10-9.11), with a
/// removable medium read through the block layer (an ISO in any image format), 2048-byte sectors. This file is the
/// transport: the ATAPI signature, IDENTIFY PACKET DEVICE, the 12-byte command packet, PIO data-in in DRQ blocks no
/// larger than the host's byte count limit, DMA data-in through the bus master, completion and the tray. The MMC
/// commands themselves are in AtapiCdrom.Mmc.cs. Behaviour as QEMU's hw/ide/atapi.c where the specs leave room.
/// </summary>
public sealed partial class AtapiCdrom : IdeDevice, IDisposable
{
    public const int SectorSize = 2048;
    private const int BufferSectors = 32;                    // 64 KiB: a whole DRQ block always fits
    private const int PacketSize = 12;

    // Interrupt reason in the Sector Count register (ATA-6 §9.11): CoD = command packet, IO = to the host.
    private const byte ReasonCoD = 0x01, ReasonIo = 0x02;

    private enum Phase : byte { None, Packet, Identify, DataIn, DmaIn }

    private readonly byte[] _buffer = new byte[BufferSectors * SectorSize];
    private readonly byte[] _packet = new byte[PacketSize];

    private IBlockDriver? _medium;
    private TransferMode _mode = TransferMode.Default;

    private Phase _phase;
    private int _packetPos;
    private bool _dma;            // the PACKET command asked for DMA (Features bit 0)
    private int _byteLimit = 0xFFFE; // the host's byte count limit for PIO DRQ blocks
    private int _bufPos, _bufEnd; // bytes of _buffer still to go to the host
    private long _remaining;      // bytes left in the whole transfer (including those in the buffer)
    private long _nextLba = -1;   // the next medium sector to read into the buffer; -1: the reply is all in the buffer
    private int _chunkLeft;       // bytes left in the current PIO DRQ block

    private ScsiSense _sense = ScsiSense.None;
    private bool _unitAttention;  // the medium changed since the guest last heard (reported once, then in the sense)
    private bool _newMediaEvent, _ejectRequestEvent; // GET EVENT STATUS NOTIFICATION, media class

    /// <param name="name">The drive's name in messages and the monitor (QEMU's ide1-cd0).</param>
    public AtapiCdrom(string name, string serial = "MVMCD0001", string model = "MiniVM DVD-ROM", string firmware = "1.0")
    {
        Name = name;
        Serial = serial;
        Model = model;
        Firmware = firmware;
        PowerOnReset();
    }

    public string Name { get; }
    public string Serial { get; }
    public string Model { get; }
    public string Firmware { get; }

    /// <summary>The medium in the drive (whether or not the tray is open); null for an empty drive.</summary>
    public IBlockDriver? Medium => _medium;

    /// <summary>The medium's file as the user named it; null for an empty drive.</summary>
    public string? MediumName { get; private set; }

    public bool TrayOpen { get; private set; }

    /// <summary>PREVENT ALLOW MEDIUM REMOVAL: the guest keeps the tray shut.</summary>
    public bool Locked { get; private set; }

    /// <summary>Opens a medium by file name for loadvm (set by the machine: format probing, read-only).</summary>
    public Func<string, IBlockDriver>? OpenMedium { get; set; }

    private bool MediumPresent => _medium is not null && !TrayOpen;

    private long MediumSectors => _medium is null ? 0 : _medium.Size / SectorSize;

    // ----- medium -----

    /// <summary>
    /// Puts <paramref name="medium"/> in and closes the tray (monitor `change`, --cdrom): the guest sees a new medium
    /// (UNIT ATTENTION 28h and a media event). The drive owns the medium from now on and disposes it when it goes.
    /// </summary>
    public void Insert(IBlockDriver medium, string name)
    {
        ReleaseMedium();
        _medium = medium;
        MediumName = name;
        TrayOpen = false;
        Locked = false; // the guest's lock went with the old medium (QEMU's change forces the tray open)
        _unitAttention = true;
        _newMediaEvent = true;
    }

    /// <summary>
    /// Monitor `eject`: opens the tray and removes the medium. A guest lock refuses it unless <paramref name="force"/>,
    /// and the guest is asked instead (eject-request event), as QEMU does; returns false then.
    /// </summary>
    public bool Eject(bool force)
    {
        if (Locked && !force)
        {
            _ejectRequestEvent = true;
            return false;
        }
        Locked = false;
        ReleaseMedium();
        TrayOpen = true;
        _unitAttention = true;
        return true;
    }

    private void ReleaseMedium()
    {
        _medium?.Dispose();
        _medium = null;
        MediumName = null;
        if (_phase is Phase.DataIn or Phase.DmaIn && _nextLba >= 0)
            Fail(ScsiSense.MediumNotPresentTrayOpen); // a read in flight loses its medium
    }

    public void Dispose() => ReleaseMedium();

    // ----- ATA side -----

    internal override bool DmaPending => _phase == Phase.DmaIn;

    /// <summary>Power-on: a medium already in the drive is simply there (no unit attention, no media event).</summary>
    internal override void PowerOnReset()
    {
        _mode = TransferMode.Default;
        _sense = ScsiSense.None;
        _unitAttention = _newMediaEvent = _ejectRequestEvent = false;
        Locked = false;
        SoftResetBegin();
        SoftResetEnd();
    }

    internal override void SoftResetBegin()
    {
        _phase = Phase.None;
        InterruptPending = false;
        Status = StBusy;
    }

    internal override void SoftResetEnd()
    {
        WriteSignature();
        Status = StReady | StSeekDone;
    }

    // The PACKET signature (ATA-6 §9.12): what tells a host this is an ATAPI device.
    private void WriteSignature()
    {
        SectorCount = 1; LbaLow = 1; LbaMid = 0x14; LbaHigh = 0xEB;
        HobSectorCount = HobLbaLow = HobLbaMid = HobLbaHigh = 0;
        DeviceHead &= 0x10;
        Error = ErrDiagPassed;
    }

    internal override void ExecuteCommand(byte command)
    {
        InterruptPending = false;
        _phase = Phase.None;
        switch (command)
        {
            case 0xA0: StartPacket(); break;
            case 0xA1: Identify(); break;
            case 0x08:                                         // DEVICE RESET (ATA-6 §8.7)
                WriteSignature();
                Status = 0;
                break;
            case 0x90:                                         // EXECUTE DEVICE DIAGNOSTIC: packet devices clear DRDY (§9.10)
                WriteSignature();
                Status = 0;
                InterruptPending = true;
                break;
            case 0xEF: SetFeatures(); break;
            case 0xE5: case 0x98:                              // CHECK POWER MODE: active
                SectorCount = 0xFF;
                AtaComplete();
                break;
            case 0x00:                                         // NOP, IDLE IMMEDIATE, STANDBY IMMEDIATE, SLEEP
            case 0xE0: case 0xE1: case 0xE3: case 0xE6:
                AtaComplete();
                break;
            default:
                // IDENTIFY DEVICE and the disk commands: a packet device aborts them and shows its signature, which
                // is how SeaBIOS and Linux tell it from a disk (ATA-6 §8.15.1).
                WriteSignature();
                AtaAbort();
                break;
        }
    }

    private void AtaComplete()
    {
        Status = StReady | StSeekDone;
        Error = 0;
        InterruptPending = true;
    }

    private void AtaAbort()
    {
        Status = StReady | StSeekDone | StErr;
        Error = ErrAbort;
        InterruptPending = true;
    }

    private void SetFeatures()
    {
        switch (Feature)
        {
            case 0x03:
                if (TransferMode.FromSetFeatures(SectorCount) is not { } mode) { AtaAbort(); return; }
                _mode = mode;
                break;
            case 0x02: case 0x82: case 0x55: case 0xAA: case 0x66: case 0xCC: // cache and default-revert switches
                break;
            default:
                AtaAbort();
                return;
        }
        AtaComplete();
    }

    private void Identify()
    {
        BuildIdentify(_buffer.AsSpan(0, 512));
        _bufPos = 0;
        _bufEnd = 512;
        _phase = Phase.Identify;
        Status = StReady | StSeekDone | StDrq;
        Error = 0;
        InterruptPending = true;
    }

    /// <summary>The 256 IDENTIFY PACKET DEVICE words (ATA-6 §8.16, values as QEMU's ide_atapi_identify).</summary>
    public void BuildIdentify(Span<byte> data)
    {
        data = data[..512];
        data.Clear();
        // ATAPI, CD-ROM device type 5, removable, DRQ within 50 µs of PACKET, 12-byte packets.
        W(data, 0, (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5));
        AtaString(data[20..40], Serial);
        AtaString(data[46..54], Firmware);
        AtaString(data[54..94], Model);
        W(data, 48, 1);                                  // 32-bit PIO
        W(data, 49, (1 << 9) | (1 << 8));                // LBA, DMA
        W(data, 53, 7);                                  // words 64-70 and 88 valid
        W(data, 62, 7);                                  // single-word DMA 0-2
        W(data, 63, _mode.MultiwordWord);
        W(data, 64, 3);                                  // PIO 3 and 4
        W(data, 65, 0xB4); W(data, 66, 0xB4); W(data, 67, 0x12C); W(data, 68, 0xB4);
        W(data, 71, 30); W(data, 72, 30);
        W(data, 80, 0x1E);                               // ATA/ATAPI-1 .. 4
        W(data, 88, _mode.UltraWord);
    }

    private static void W(Span<byte> data, int word, int value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(data[(word * 2)..], (ushort)value);

    private static void AtaString(Span<byte> field, string text)
    {
        for (int i = 0; i < field.Length; i++)
        {
            char c = i < text.Length ? text[i] : ' ';
            field[i ^ 1] = c is >= ' ' and <= '~' ? (byte)c : (byte)' ';
        }
    }

    // PACKET (ATA-6 §8.23): the host writes 12 bytes with CoD=1, IO=0 and DRQ; no interrupt asks for them.
    private void StartPacket()
    {
        if ((Feature & 0x02) != 0) { AtaAbort(); return; } // overlapped commands are not supported
        _dma = (Feature & 0x01) != 0;
        int limit = LbaMid | (LbaHigh << 8);
        // 0 and FFFFh are not valid limits; QEMU reads FFFFh as FFFEh, and 0 would make no progress at all.
        _byteLimit = limit is 0 or 0xFFFF ? 0xFFFE : limit;
        _packetPos = 0;
        _phase = Phase.Packet;
        SectorCount = (byte)((SectorCount & ~7) | ReasonCoD);
        Status = StReady | StSeekDone | StDrq;
    }

    // ----- data port -----

    internal override uint ReadData(int size)
    {
        if (_phase is not (Phase.DataIn or Phase.Identify) || !DataRequest) return Floating(size);
        if (_phase == Phase.Identify)
        {
            uint v = 0;
            for (int i = 0; i < size && _bufPos < _bufEnd; i++) v |= (uint)_buffer[_bufPos++] << (8 * i);
            if (_bufPos >= _bufEnd) { _phase = Phase.None; Status = StReady | StSeekDone; }
            return v;
        }
        uint value = 0;
        for (int i = 0; i < size && _chunkLeft > 0; i++)
        {
            if (_bufPos == _bufEnd && !Refill()) return value;
            value |= (uint)_buffer[_bufPos++] << (8 * i);
            _chunkLeft--;
            _remaining--;
        }
        if (_chunkLeft == 0)
        {
            if (_remaining == 0) CommandOk();
            else NextPioBlock();
        }
        return value;
    }

    internal override void WriteData(int size, uint value)
    {
        if (_phase != Phase.Packet || !DataRequest) return;
        for (int i = 0; i < size && _packetPos < PacketSize; i++) _packet[_packetPos++] = (byte)(value >> (8 * i));
        if (_packetPos < PacketSize) return;
        _phase = Phase.None;
        ExecutePacket(_packet);
    }

    // ----- data-in phase -----

    /// <summary>Sends the first <paramref name="length"/> bytes of the reply built in the buffer.</summary>
    private void Reply(int length)
    {
        _nextLba = -1;
        _bufPos = 0;
        _bufEnd = length;
        StartDataIn(length);
    }

    /// <summary>Sends <paramref name="sectors"/> medium sectors from <paramref name="lba"/> (already range-checked).</summary>
    private void ReplyFromMedium(long lba, long sectors)
    {
        _nextLba = lba;
        _bufPos = _bufEnd = 0;
        StartDataIn(sectors * SectorSize);
    }

    private void StartDataIn(long length)
    {
        _remaining = length;
        if (length == 0) { CommandOk(); return; }
        if (_dma)
        {
            _phase = Phase.DmaIn;
            Status = StReady | StSeekDone | StDrq;
            return;
        }
        _phase = Phase.DataIn;
        NextPioBlock();
    }

    // One DRQ block (ATA-6 §9.11 "PIO data-in"): its size in the Byte Count registers, IO=1, an interrupt. A block
    // is at most the host's limit, even unless it is the last (SFF-8020i §5.14.2).
    private void NextPioBlock()
    {
        int limit = _byteLimit & ~1;
        int n = (int)Math.Min(_remaining, limit);
        _chunkLeft = n;
        LbaMid = (byte)n;
        LbaHigh = (byte)(n >> 8);
        SectorCount = (byte)((SectorCount & ~7) | ReasonIo);
        Status = StReady | StSeekDone | StDrq;
        InterruptPending = true;
    }

    // Reads the next medium sectors of a transfer into the buffer; on failure the command ends with a check condition.
    private bool Refill()
    {
        if (_nextLba < 0 || _medium is null || TrayOpen) { Fail(ScsiSense.MediumNotPresentTrayOpen); return false; }
        int sectors = (int)Math.Min(BufferSectors, (_remaining + SectorSize - 1) / SectorSize);
        try { _medium.Read(_nextLba * SectorSize, _buffer.AsSpan(0, sectors * SectorSize)); }
        catch (Exception e) when (e is IOException or ImageFormatException)
        {
            Fail(ScsiSense.UnrecoveredReadError);
            return false;
        }
        _nextLba += sectors;
        _bufPos = 0;
        _bufEnd = sectors * SectorSize;
        return true;
    }

    internal override void RunDma(IDmaBus bus)
    {
        while (_remaining > 0)
        {
            if (_bufPos == _bufEnd && !Refill()) return;
            int n = (int)Math.Min(_bufEnd - _bufPos, _remaining);
            if (!bus.ToGuest(_buffer.AsSpan(_bufPos, n)))
            {
                // The PRD table ended early or was invalid: the bus master has its error bit set; the command aborts.
                _phase = Phase.None;
                Status = StReady | StSeekDone | StErr;
                Error = ErrAbort;
                SectorCount = (byte)((SectorCount & ~7) | ReasonIo | ReasonCoD);
                InterruptPending = true;
                return;
            }
            _bufPos += n;
            _remaining -= n;
        }
        CommandOk();
    }

    // Status phase (ATA-6 §9.11): IO=1, CoD=1, DRDY, an interrupt; the sense is cleared (QEMU's ide_atapi_cmd_ok).
    private void CommandOk()
    {
        _phase = Phase.None;
        _sense = ScsiSense.None;
        Error = 0;
        Status = StReady | StSeekDone;
        SectorCount = (byte)((SectorCount & ~7) | ReasonIo | ReasonCoD);
        InterruptPending = true;
    }

    // CHECK CONDITION: ERR with the sense key in the Error register; REQUEST SENSE tells the rest.
    private void Fail(ScsiSense sense)
    {
        _phase = Phase.None;
        _sense = sense;
        Error = (byte)(sense.Key << 4);
        Status = StReady | StSeekDone | StErr;
        SectorCount = (byte)((SectorCount & ~7) | ReasonIo | ReasonCoD);
        InterruptPending = true;
    }

    // ----- state -----

    internal override void SaveState(StateWriter w)
    {
        SaveRegisters(w);
        w.Write(_mode.Code);
        w.Write(MediumName ?? ""); w.Write(_medium?.Size ?? 0L);
        w.Write(TrayOpen); w.Write(Locked);
        w.Write(_sense.Key); w.Write(_sense.Asc); w.Write(_sense.Ascq);
        w.Write(_unitAttention); w.Write(_newMediaEvent); w.Write(_ejectRequestEvent);
        w.Write((byte)_phase); w.WriteBytes(_packet); w.Write(_packetPos);
        w.Write(_dma); w.Write(_byteLimit);
        w.Write(_remaining); w.Write(_nextLba); w.Write(_chunkLeft);
        // The buffer's unsent bytes matter only while data is on its way to the host.
        bool live = _phase is Phase.Identify or Phase.DataIn or Phase.DmaIn;
        w.Write(live ? _bufPos : 0); w.Write(live ? _bufEnd : 0);
        w.WriteBytes(live ? _buffer.AsSpan(0, _bufEnd) : default);
    }

    internal override Action ReadState(StateReader r)
    {
        string id = r.SectionId;
        var registers = ReadRegisters(r);
        byte modeCode = r.ReadByte();
        var mode = TransferMode.FromSetFeatures(modeCode) ?? throw new StateFormatException($"section {id}: {Name}: transfer mode {modeCode:X2}h");
        string mediumName = r.ReadString();
        long mediumSize = r.ReadInt64();
        bool trayOpen = r.ReadBool(), locked = r.ReadBool();
        var sense = new ScsiSense(r.ReadByte(), r.ReadByte(), r.ReadByte());
        bool unitAttention = r.ReadBool(), newMedia = r.ReadBool(), ejectRequest = r.ReadBool();
        var phase = (Phase)r.ReadByte();
        var packet = new byte[PacketSize];
        r.ReadBytes(packet);
        int packetPos = r.ReadInt32InRange(0, PacketSize, "packet position");
        bool dma = r.ReadBool();
        int byteLimit = r.ReadInt32InRange(2, 0xFFFE, "byte count limit");
        long remaining = r.ReadInt64(), nextLba = r.ReadInt64();
        int chunkLeft = r.ReadInt32InRange(0, 0xFFFE, "DRQ block left");
        int bufPos = r.ReadInt32InRange(0, _buffer.Length, "buffer position"), bufEnd = r.ReadInt32InRange(0, _buffer.Length, "buffer end");
        var buffer = new byte[bufEnd];
        r.ReadBytes(buffer);
        if (phase > Phase.DmaIn) throw new StateFormatException($"section {id}: {Name}: phase {(byte)phase} out of range");
        if (bufPos > bufEnd || remaining < 0 || nextLba < -1 || chunkLeft > remaining)
            throw new StateFormatException($"section {id}: {Name}: transfer position out of range");

        // The medium is named, not saved: the file must still be there (and the same size) to be put back in.
        bool sameMedium = mediumName == (MediumName ?? "");
        if (mediumName.Length > 0 && !sameMedium)
        {
            if (!File.Exists(mediumName))
                throw new StateFormatException($"section {id}: {Name} had the medium '{mediumName}' inserted, and that file is gone");
            if (OpenMedium is null)
                throw new StateFormatException($"section {id}: {Name} had the medium '{mediumName}', which this machine cannot open");
        }
        if (sameMedium && _medium is not null && _medium.Size != mediumSize)
            throw new StateFormatException($"section {id}: {Name}: the medium '{mediumName}' is {_medium.Size} bytes now, {mediumSize} when saved");
        if (nextLba >= 0 && nextLba * SectorSize + remaining - (bufEnd - bufPos) > mediumSize)
            throw new StateFormatException($"section {id}: {Name}: a read in flight runs past the medium's end");

        return () =>
        {
            if (!sameMedium)
            {
                _medium?.Dispose();
                _medium = null;
                MediumName = null;
                if (mediumName.Length > 0)
                {
                    _medium = OpenMedium!(mediumName);
                    MediumName = mediumName;
                }
            }
            registers();
            _mode = mode;
            TrayOpen = trayOpen; Locked = locked;
            _sense = sense;
            _unitAttention = unitAttention; _newMediaEvent = newMedia; _ejectRequestEvent = ejectRequest;
            _phase = phase; packet.CopyTo(_packet, 0); _packetPos = packetPos;
            _dma = dma; _byteLimit = byteLimit;
            _remaining = remaining; _nextLba = nextLba; _chunkLeft = chunkLeft;
            _bufPos = bufPos; _bufEnd = bufEnd;
            buffer.CopyTo(_buffer, 0);
        };
    }
}
