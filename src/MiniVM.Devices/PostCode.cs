namespace MiniVM.Devices;

/// <summary>
/// The POST diagnostic port 0x80: firmware writes progress codes here and operating systems use it as an I/O
/// delay. The last code is kept (reads return it, as on chipsets with a POST latch) and reported to listeners.
/// </summary>
public sealed class PostCode : IPortDevice, ISnapshottable, IPortMapped
{
    public byte LastCode { get; private set; }

    /// <summary>Raised for every byte written (the monitor can show boot progress).</summary>
    public event Action<byte>? CodeWritten;

    public string SectionId => "post";
    public int SectionVersion => 1;

    public void Attach(PortBus ports) => ports.Register(0x80, 1, this);

    public uint ReadPort(ushort port, int size) => LastCode;

    public void WritePort(ushort port, int size, uint value)
    {
        LastCode = (byte)value;
        CodeWritten?.Invoke(LastCode);
    }

    public void SaveState(StateWriter writer) => writer.Write(LastCode);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        LastCode = reader.ReadByte();
    }
}
