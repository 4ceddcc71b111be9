namespace MiniVM.Devices.Storage;

/// <summary>
/// What an <see cref="IdeChannel"/> sees of a device on its cable: the shadowed command-block registers (each a
/// two-byte FIFO for LBA48), Status/Error, INTRQ, the data port and, for a DMA command, a transfer the bus master
/// runs. An ATA disk (<see cref="AtaDrive"/>) and an ATAPI CD-ROM (<see cref="AtapiCdrom"/>) are the two kinds.
/// Register semantics: ATA/ATAPI-6 (T13 1410D) §7.
/// </summary>
public abstract class IdeDevice
{
    // Status and error bits (ATA-6 §7.15, §7.9).
    internal const byte StBusy = 0x80, StReady = 0x40, StFault = 0x20, StSeekDone = 0x10, StDrq = 0x08, StErr = 0x01;
    internal const byte ErrAbort = 0x04, ErrIdNotFound = 0x10, ErrUncorrectable = 0x40, ErrDiagPassed = 0x01;

    internal byte Feature, HobFeature, SectorCount, HobSectorCount;
    internal byte LbaLow, HobLbaLow, LbaMid, HobLbaMid, LbaHigh, HobLbaHigh;
    internal byte DeviceHead;
    internal byte Status, Error;

    /// <summary>INTRQ request of this device, cleared by reading Status or writing Command (ATA-6 §5.2.9).</summary>
    internal bool InterruptPending;

    internal bool DataRequest => (Status & StDrq) != 0;

    /// <summary>A DMA command waits for the bus master to move its data (<see cref="RunDma"/>).</summary>
    internal abstract bool DmaPending { get; }

    /// <summary>Power-on or hardware reset.</summary>
    internal abstract void PowerOnReset();

    /// <summary>SRST asserted: the device goes busy and drops whatever it was doing.</summary>
    internal abstract void SoftResetBegin();

    /// <summary>SRST released: the device's signature and its defaults.</summary>
    internal abstract void SoftResetEnd();

    internal abstract void ExecuteCommand(byte command);

    internal abstract uint ReadData(int size);

    internal abstract void WriteData(int size, uint value);

    /// <summary>
    /// Moves the pending DMA command's data through <paramref name="bus"/> and completes the command (status and
    /// INTRQ). Called by the channel once both the command and the bus master's start bit are there.
    /// </summary>
    internal abstract void RunDma(IDmaBus bus);

    internal abstract void SaveState(StateWriter w);

    /// <summary>Reads and validates the device's state; the returned action applies it (so a channel can validate both devices first).</summary>
    internal abstract Action ReadState(StateReader r);

    /// <summary>Command-block registers and status, shared by both kinds' saved state.</summary>
    private protected void SaveRegisters(StateWriter w)
    {
        w.Write(Feature); w.Write(HobFeature); w.Write(SectorCount); w.Write(HobSectorCount);
        w.Write(LbaLow); w.Write(HobLbaLow); w.Write(LbaMid); w.Write(HobLbaMid); w.Write(LbaHigh); w.Write(HobLbaHigh);
        w.Write(DeviceHead); w.Write(Status); w.Write(Error); w.Write(InterruptPending);
    }

    private protected Action ReadRegisters(StateReader r)
    {
        byte feature = r.ReadByte(), hobFeature = r.ReadByte(), sc = r.ReadByte(), hobSc = r.ReadByte();
        byte lbaLow = r.ReadByte(), hobLow = r.ReadByte(), lbaMid = r.ReadByte(), hobMid = r.ReadByte(), lbaHigh = r.ReadByte(), hobHigh = r.ReadByte();
        byte dh = r.ReadByte(), status = r.ReadByte(), error = r.ReadByte(); bool irq = r.ReadBool();
        return () =>
        {
            Feature = feature; HobFeature = hobFeature; SectorCount = sc; HobSectorCount = hobSc;
            LbaLow = lbaLow; HobLbaLow = hobLow; LbaMid = lbaMid; HobLbaMid = hobMid; LbaHigh = lbaHigh; HobLbaHigh = hobHigh;
            DeviceHead = dh; Status = status; Error = error; InterruptPending = irq;
        };
    }

    private protected static uint Floating(int size) => size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
}

/// <summary>The bus master's side of a DMA transfer as a device sees it: the guest buffers its PRD table names.</summary>
internal interface IDmaBus
{
    /// <summary>Copies <paramref name="data"/> into the next PRD buffers; false when the table ended or is invalid (nothing more moves).</summary>
    bool ToGuest(ReadOnlySpan<byte> data);

    /// <summary>Fills <paramref name="data"/> from the next PRD buffers; false when the table ended or is invalid.</summary>
    bool FromGuest(Span<byte> data);
}
