using MiniVM.Cpu;
using MiniVM.Devices;

namespace MiniVM.Machine;

/// <summary>Guest RAM as bus-master devices see it (DMA): goes through PhysicalMemory so decoded code stays coherent.</summary>
public sealed class GuestMemory(PhysicalMemory memory) : IGuestMemory
{
    public long RamSize => memory.RamSize;
    public void ReadPhysical(ulong address, Span<byte> destination) => memory.Read(address, destination);
    public void WritePhysical(ulong address, ReadOnlySpan<byte> source) => memory.Write(address, source);
}
