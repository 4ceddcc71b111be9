namespace MiniVM.Devices;

/// <summary>
/// QEMU's ISA debug console (isa-debugcon): every byte written is appended to the log sink; reads return 0xE9 so
/// firmware can detect it. SeaBIOS on QEMU writes its debug log to port 0x402; Bochs-style guests use 0xE9.
/// It has no state of its own, so it is not a snapshot section.
/// </summary>
public sealed class DebugConsole(Action<byte> sink) : IPortDevice, IPortMapped
{
    public const ushort SeaBiosPort = 0x402;
    public const ushort BochsPort = 0xE9;

    /// <summary>Registers the console at <paramref name="port"/> (0x402 by default).</summary>
    public void Attach(PortBus ports, ushort port) => ports.Register(port, 1, this);

    /// <summary>At SeaBIOS's port 0x402, where the board puts it.</summary>
    public void Attach(PortBus ports) => Attach(ports, SeaBiosPort);

    public uint ReadPort(ushort port, int size) => 0xE9;

    public void WritePort(ushort port, int size, uint value)
    {
        // A wider OUT carries several characters, lowest byte first.
        for (int i = 0; i < size; i++) sink((byte)(value >> (8 * i)));
    }
}
