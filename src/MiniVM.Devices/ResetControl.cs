namespace MiniVM.Devices;

/// <summary>
/// The PIIX3 reset control register at 0xCF9 (PIIX3 datasheet §4.1.7): writing bit 2 (RST_CPU) resets the
/// machine, bit 1 (SYS_RST) selecting a hard (full system) rather than soft (CPU) reset. Only byte accesses
/// land here; the 32-bit PCI CONFIG_ADDRESS at 0xCF8 is the host bridge's.
/// </summary>
public sealed class ResetControl : IPortDevice, ISnapshottable, IPortMapped, IResettable
{
    private byte _value;

    /// <summary>Raised on RST_CPU; the argument is true for a hard (system) reset.</summary>
    public event Action<bool>? ResetRequested;

    public string SectionId => "rcr";
    public int SectionVersion => 1;

    public void Attach(PortBus ports) => ports.Register(0xCF9, 1, this);

    public void Reset() => _value = 0;

    public uint ReadPort(ushort port, int size) => _value;

    public void WritePort(ushort port, int size, uint value)
    {
        _value = (byte)(value & 0x02);
        if ((value & 0x04) != 0) ResetRequested?.Invoke((value & 0x02) != 0);
    }

    public void SaveState(StateWriter writer) => writer.Write(_value);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        byte v = reader.ReadByte();
        if ((v & ~0x02) != 0) throw new StateFormatException($"section {SectionId}: value 0x{v:X2} has undefined bits set");
        _value = v;
    }
}
