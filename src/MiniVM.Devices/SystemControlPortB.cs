namespace MiniVM.Devices;

/// <summary>
/// Port 0x61, "system control port B" of the AT/PIIX: bit 0 gates PIT channel 2, bit 1 enables the speaker,
/// bit 4 is the DRAM refresh toggle and bit 5 mirrors PIT channel 2's OUT. BIOS delay loops count refresh
/// toggles (every 15.085 µs), so the toggle is derived from virtual time, keeping runs deterministic.
/// </summary>
public sealed class SystemControlPortB(Pit8254 pit, VirtualClock clock) : IPortDevice, ISnapshottable, IPortMapped
{
    private const long RefreshPeriodNs = 15_085;
    private byte _control; // bits 0-3 as written

    public string SectionId => "port61";
    public int SectionVersion => 1;

    /// <summary>True while the guest drives the PC speaker from channel 2 (bits 0 and 1 set).</summary>
    public bool SpeakerEnabled => (_control & 3) == 3;

    public void Attach(PortBus ports) => ports.Register(0x61, 1, this);

    public uint ReadPort(ushort port, int size)
    {
        int refresh = (int)((clock.Now / RefreshPeriodNs) & 1);
        return (uint)((_control & 0x0F) | (refresh << 4) | (pit.GetOutput(2) ? 0x20 : 0));
    }

    public void WritePort(ushort port, int size, uint value)
    {
        _control = (byte)(value & 0x0F);
        pit.SetGate(2, (value & 1) != 0);
    }

    public void SaveState(StateWriter writer) => writer.Write(_control);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        byte v = reader.ReadByte();
        if (v > 0x0F) throw new StateFormatException($"section {SectionId}: control 0x{v:X2} has bits above 3 set");
        _control = v;
    }
}
