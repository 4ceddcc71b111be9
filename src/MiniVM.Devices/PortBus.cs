namespace MiniVM.Devices;

/// <summary>
/// The I/O-port address space: maps port ranges to devices and refuses overlaps (design.md, "devices on a bus").
/// Unmapped reads float high (all ones), unmapped writes are dropped, as on a PC.
/// </summary>
public sealed class PortBus
{
    private readonly IPortDevice?[] _map = new IPortDevice?[65536];

    public void Register(ushort first, int count, IPortDevice device)
    {
        if (count <= 0 || first + count > 65536) throw new ArgumentOutOfRangeException(nameof(count));
        for (int p = first; p < first + count; p++)
            if (_map[p] is { } other && other != device)
                throw new InvalidOperationException($"port 0x{p:X4} of {device.GetType().Name} is already taken by {other.GetType().Name}");
        for (int p = first; p < first + count; p++) _map[p] = device;
    }

    public void Unregister(ushort first, int count, IPortDevice device)
    {
        for (int p = first; p < first + count && p < 65536; p++)
            if (_map[p] == device) _map[p] = null;
    }

    public IPortDevice? DeviceAt(ushort port) => _map[port];

    public uint Read(ushort port, int size)
    {
        if (_map[port] is { } d) return d.ReadPort(port, size);
        return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
    }

    public void Write(ushort port, int size, uint value) => _map[port]?.WritePort(port, size, value);
}
