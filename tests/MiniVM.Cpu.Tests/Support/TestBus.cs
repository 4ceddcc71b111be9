namespace MiniVM.Cpu.Tests.Support;

/// <summary>A bus with nothing on it: port reads return all ones, writes are recorded, TSC counts reads.</summary>
public sealed class TestBus : ICpuBus
{
    public readonly List<(ushort Port, int Size, uint Value)> Outs = [];
    public ulong Tsc;
    /// <summary>Called at each OUT before it is recorded: what a device sees of the CPU at that moment.</summary>
    public Action? OutObserver;

    /// <summary>Answers MMIO reads when set (else all ones): what a device sees of the CPU at that moment.</summary>
    public Func<ulong, int, uint>? MmioRead;

    public uint ReadMmio(ulong address, int size) => MmioRead?.Invoke(address, size) ?? (size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1);
    /// <summary>Called at each MMIO write (else writes are dropped).</summary>
    public Action<ulong, int, uint>? MmioWrite;

    public void WriteMmio(ulong address, int size, uint value) => MmioWrite?.Invoke(address, size, value);
    public uint In(ushort port, int size) => size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
    public void Out(ushort port, int size, uint value)
    {
        OutObserver?.Invoke();
        Outs.Add((port, size, value));
    }
    public ulong ReadTimestampCounter() => Tsc;
}

/// <summary>An interrupt controller the tests drive by hand.</summary>
public sealed class TestInterrupts : IInterruptController
{
    public byte? Pending;
    public bool InterruptPending => Pending.HasValue;

    public byte AcknowledgeInterrupt()
    {
        byte v = Pending ?? 0xFF;
        Pending = null;
        return v;
    }
}
