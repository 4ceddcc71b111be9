namespace MiniVM.Devices;

/// <summary>
/// Physical ranges outside RAM that devices answer (VGA window, linear framebuffer, PCI BARs).
/// Ranges may move (BAR reprogramming), so lookups walk a short sorted list; overlaps are refused.
/// </summary>
public sealed class MmioBus
{
    private readonly record struct Region(ulong Start, ulong Length, IMmioDevice Device);
    private Region[] _regions = [];

    public void Register(ulong start, ulong length, IMmioDevice device)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length));
        foreach (var r in _regions)
            if (start < r.Start + r.Length && r.Start < start + length)
                throw new InvalidOperationException($"MMIO 0x{start:X}+0x{length:X} of {device.GetType().Name} overlaps {r.Device.GetType().Name} at 0x{r.Start:X}");
        _regions = [.. _regions.Append(new Region(start, length, device)).OrderBy(r => r.Start)];
    }

    public void Unregister(IMmioDevice device, ulong start) =>
        _regions = [.. _regions.Where(r => !(r.Device == device && r.Start == start))];

    public bool TryFind(ulong address, out IMmioDevice device, out ulong offset)
    {
        foreach (var r in _regions)
            if (address >= r.Start && address - r.Start < r.Length) { device = r.Device; offset = address - r.Start; return true; }
        device = null!; offset = 0; return false;
    }

    public uint Read(ulong address, int size) =>
        TryFind(address, out var d, out var off) ? d.ReadMmio(off, size) : size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    public void Write(ulong address, int size, uint value)
    {
        if (TryFind(address, out var d, out var off)) d.WriteMmio(off, size, value);
    }
}
