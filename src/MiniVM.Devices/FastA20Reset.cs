namespace MiniVM.Devices;

/// <summary>
/// Port 0x92, "system control port A" (PS/2 fast A20 and fast reset): bit 1 drives A20, a 0→1 transition of
/// bit 0 resets the CPU. The machine ORs this A20 with the 8042's to decide the A20 mask.
/// </summary>
public sealed class FastA20Reset : IPortDevice, ISnapshottable, IPortMapped, IResettable
{
    private byte _value;

    public event Action<bool>? A20Changed;
    public event Action? ResetRequested;

    public bool A20Enabled => (_value & 0x02) != 0;

    public string SectionId => "port92";
    public int SectionVersion => 1;

    public void Attach(PortBus ports) => ports.Register(0x92, 1, this);

    public uint ReadPort(ushort port, int size) => _value;

    public void WritePort(ushort port, int size, uint value)
    {
        byte old = _value;
        _value = (byte)(value & 0x03);
        if (((old ^ _value) & 0x02) != 0) A20Changed?.Invoke(A20Enabled);
        if ((_value & 0x01) != 0 && (old & 0x01) == 0) ResetRequested?.Invoke();
    }

    /// <summary>After a reset the fast-reset bit reads 0 again; A20 keeps what the machine decides.</summary>
    public void Reset() => _value = 0;

    public void SaveState(StateWriter writer) => writer.Write(_value);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        byte v = reader.ReadByte();
        if (v > 3) throw new StateFormatException($"section {SectionId}: value 0x{v:X2} has undefined bits set");
        _value = v;
    }
}
