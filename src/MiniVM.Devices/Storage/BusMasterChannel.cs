namespace MiniVM.Devices.Storage;

/// <summary>
/// One channel of the PIIX IDE bus master (Intel 82371SB §2.7, SFF-8038i): command (BMICx: start, direction),
/// status (BMISx: active, error, interrupt, and the two DMA-capable bits the BIOS sets) and the PRD table pointer
/// (BMIDTPx). When the start bit is set and the channel's device has a DMA command waiting, the channel runs the
/// transfer through the PRD table at once; every entry is parsed and checked against guest RAM first (like a virtio
/// descriptor chain), so a table outside RAM, one without End Of Table, or one shorter than the command ends with
/// the error bit and an aborted command for the guest, never a host exception.
/// </summary>
public sealed class BusMasterChannel : IDmaBus
{
    public const byte CmdStart = 0x01, CmdToMemory = 0x08;
    public const byte StActive = 0x01, StError = 0x02, StInterrupt = 0x04, StCapableMask = 0x60;

    private readonly IGuestMemory _memory;
    private readonly byte[] _entryBytes = new byte[PrdEntry.Size];

    // The PRD walk of the transfer being run (always finished before the port write that started it returns).
    private uint _tableAt;       // next entry's address
    private int _entries;        // entries used so far
    private uint _bufferAt;      // current entry's next byte
    private int _bufferLeft;     // bytes left in the current entry
    private bool _tableEnded;    // the current entry had End Of Table
    private bool _failed;

    public BusMasterChannel(IGuestMemory memory) => _memory = memory;

    public byte Command { get; private set; }
    public byte Status { get; private set; }
    public uint PrdTable { get; private set; }

    /// <summary>Why the last transfer failed (for the monitor and tests); null when it did not.</summary>
    public string? LastError { get; private set; }

    /// <summary>Raised when the guest sets the start bit: the channel runs a waiting DMA command.</summary>
    internal Action? Started;

    internal bool Running => (Command & CmdStart) != 0;

    public void Reset()
    {
        Command = 0; Status = 0; PrdTable = 0; LastError = null;
    }

    internal void LatchInterrupt() => Status |= StInterrupt;

    internal void WriteCommand(byte value)
    {
        bool wasRunning = Running;
        Command = (byte)(value & (CmdStart | CmdToMemory));
        if (Running && !wasRunning)
        {
            Status |= StActive;
            Started?.Invoke();
        }
        else if (!Running) Status &= unchecked((byte)~StActive); // stopping the engine aborts what is left (SFF-8038i §2.1)
    }

    // Interrupt and Error are cleared by writing 1; the DMA-capable bits are plain storage.
    internal void WriteStatus(byte value) =>
        Status = (byte)((Status & ~(value & (StError | StInterrupt)) & ~StCapableMask) | (value & StCapableMask));

    internal void WritePrdTable(int byteIndex, byte value)
    {
        int shift = 8 * byteIndex;
        uint v = (PrdTable & ~(0xFFu << shift)) | ((uint)value << shift);
        PrdTable = v & 0xFFFF_FFFC; // the table is dword aligned
    }

    /// <summary>Runs <paramref name="device"/>'s DMA command through the PRD table and updates Active/Error.</summary>
    internal void Run(IdeDevice device)
    {
        _tableAt = PrdTable;
        _entries = 0;
        _bufferLeft = 0;
        _tableEnded = false;
        _failed = false;
        LastError = null;
        device.RunDma(this);
        // Active stays set when the table described more than the device moved (SFF-8038i §2.1 note); the guest
        // then clears the start bit, as Linux's ata_bmdma_stop does.
        if (_failed || (_tableEnded && _bufferLeft == 0)) Status &= unchecked((byte)~StActive);
    }

    bool IDmaBus.ToGuest(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_bufferLeft == 0 && !NextEntry()) return false;
            int n = Math.Min(_bufferLeft, data.Length);
            _memory.WritePhysical(_bufferAt, data[..n]);
            Advance(n);
            data = data[n..];
        }
        return true;
    }

    bool IDmaBus.FromGuest(Span<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_bufferLeft == 0 && !NextEntry()) return false;
            int n = Math.Min(_bufferLeft, data.Length);
            _memory.ReadPhysical(_bufferAt, data[..n]);
            Advance(n);
            data = data[n..];
        }
        return true;
    }

    private void Advance(int n)
    {
        _bufferAt += (uint)n;
        _bufferLeft -= n;
    }

    private bool NextEntry()
    {
        if (_failed) return false;
        if (_tableEnded) return Fail($"PRD table at 0x{PrdTable:X8} ended before the command's data");
        if (_entries >= PrdEntry.TableBoundary / PrdEntry.Size || (_entries > 0 && _tableAt % PrdEntry.TableBoundary == 0))
            return Fail($"PRD table at 0x{PrdTable:X8} has no End Of Table before its 64 KiB boundary");
        if (_tableAt + (long)PrdEntry.Size > _memory.RamSize)
            return Fail($"PRD table entry at 0x{_tableAt:X8} is outside guest RAM ({_memory.RamSize} bytes)");
        _memory.ReadPhysical(_tableAt, _entryBytes);
        var entry = PrdEntry.Parse(_entryBytes);
        if (entry.Problem(_memory.RamSize) is { } problem) return Fail(problem);
        _tableAt += PrdEntry.Size;
        _entries++;
        _bufferAt = entry.Address;
        _bufferLeft = entry.Length;
        _tableEnded = entry.EndOfTable;
        return true;
    }

    private bool Fail(string why)
    {
        _failed = true;
        LastError = why;
        Status |= StError;
        return false;
    }

    internal void SaveState(StateWriter w)
    {
        w.Write(Command); w.Write(Status); w.Write(PrdTable);
    }

    internal Action ReadState(StateReader r)
    {
        byte command = r.ReadByte(), status = r.ReadByte();
        uint prd = r.ReadUInt32();
        if ((command & ~(CmdStart | CmdToMemory)) != 0 || (status & 0x98) != 0 || (prd & 3) != 0)
            throw new StateFormatException($"section {r.SectionId}: bus-master registers {command:X2}/{status:X2}/{prd:X8} are not ones the PIIX can hold");
        return () => { Command = command; Status = status; PrdTable = prd; LastError = null; };
    }
}
