using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

/// <summary>Guest RAM backed by a byte array, for DMA tests.</summary>
internal sealed class ArrayGuestMemory(int size) : IGuestMemory
{
    public byte[] Bytes { get; } = new byte[size];
    public long RamSize => Bytes.Length;
    public void ReadPhysical(ulong address, Span<byte> destination) => Bytes.AsSpan((int)address, destination.Length).CopyTo(destination);
    public void WritePhysical(ulong address, ReadOnlySpan<byte> source) => source.CopyTo(Bytes.AsSpan((int)address));
}
