using MiniVM.Cpu;
using MiniVM.Devices;

namespace MiniVM.Machine;

/// <summary>
/// What the CPU sees outside RAM: the I/O-port bus, the MMIO bus and the time-stamp counter.
/// Every device access first brings the virtual clock up to the exact instruction being executed, so a device
/// that reads the time (PIT counter, RTC update flag, port 0x61 refresh toggle) sees it advance within a run
/// slice, and a timer that falls due before the access fires first — the icount model of QEMU.
/// </summary>
public sealed class MachineBus(PortBus ports, MmioBus mmio, MachineClock clock) : ICpuBus
{
    public PortBus Ports { get; } = ports;
    public MmioBus Mmio { get; } = mmio;

    public uint In(ushort port, int size)
    {
        clock.Sync();
        return Ports.Read(port, size);
    }

    public void Out(ushort port, int size, uint value)
    {
        clock.Sync();
        Ports.Write(port, size, value);
    }

    public uint ReadMmio(ulong address, int size)
    {
        clock.Sync();
        return Mmio.Read(address, size);
    }

    public void WriteMmio(ulong address, int size, uint value)
    {
        clock.Sync();
        Mmio.Write(address, size, value);
    }

    /// <summary>The TSC counts virtual nanoseconds: a 1 GHz P6 whose speed never changes.</summary>
    public ulong ReadTimestampCounter() => (ulong)clock.CurrentTime;
}
