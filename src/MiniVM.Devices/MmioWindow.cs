namespace MiniVM.Devices;

/// <summary>
/// A range of guest-physical addresses a device answers in: fixed (the I/O APIC, the VGA window) or moved by the
/// guest (a PCI memory BAR, the local APIC base). <see cref="Address"/> null = not decoded. The board maps the
/// window where it is and follows <see cref="Moved"/>.
/// </summary>
public sealed class MmioWindow(IMmioDevice device, uint size, ulong? address = null)
{
    public IMmioDevice Device { get; } = device;
    public uint Size { get; } = size;
    public ulong? Address { get; private set; } = address;

    /// <summary>The new address (null: no longer decoded); raised only when it changes.</summary>
    public event Action<ulong?>? Moved;

    public void MoveTo(ulong? address)
    {
        if (address == Address) return;
        Address = address;
        Moved?.Invoke(address);
    }
}

/// <summary>A device that answers memory accesses in the windows it lists (one per BAR or fixed range).</summary>
public interface IMmioMapped
{
    IReadOnlyList<MmioWindow> MmioWindows { get; }
}
