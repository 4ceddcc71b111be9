namespace MiniVM.Devices;

/// <summary>
/// A PCI function on bus 0: its 256-byte configuration space. The host bridge routes configuration
/// mechanism #1 accesses here; BAR writes are the function's business (it re-maps itself on the buses).
/// </summary>
public interface IPciFunction
{
    /// <summary>Device number (0..31) and function (0..7) on bus 0.</summary>
    int Device { get; }
    int Function { get; }
    uint ReadConfig(int offset, int size);
    void WriteConfig(int offset, int size, uint value);
}
