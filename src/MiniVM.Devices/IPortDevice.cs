namespace MiniVM.Devices;

/// <summary>A device that answers I/O-port accesses. <c>size</c> is 1, 2 or 4 bytes; <c>port</c> is the exact port hit.</summary>
public interface IPortDevice
{
    uint ReadPort(ushort port, int size);
    void WritePort(ushort port, int size, uint value);
}

/// <summary>A device that answers physical-memory accesses in a range it was mapped at. <c>offset</c> is relative to the mapping.</summary>
public interface IMmioDevice
{
    uint ReadMmio(ulong offset, int size);
    void WriteMmio(ulong offset, int size, uint value);
}

/// <summary>One interrupt wire into an interrupt controller (level: true = asserted). Edge devices pulse it.</summary>
public interface IIrqLine
{
    void SetLevel(bool asserted);
}

/// <summary>Guest physical memory as seen by a bus-master (DMA) device: copies, never references into RAM.</summary>
public interface IGuestMemory
{
    long RamSize { get; }
    void ReadPhysical(ulong address, Span<byte> destination);
    void WritePhysical(ulong address, ReadOnlySpan<byte> source);
}
