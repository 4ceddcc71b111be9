using System.Buffers.Binary;

namespace MiniVM.Devices.Virtio;

/// <summary>
/// A virtio-blk request parsed from a validated chain (VIRTIO 1.1 §5.2.6): the 16-byte header from the readable
/// buffers, the data between, and the status byte at the end of the writable buffers. The layout is not assumed
/// (header and data may share or split buffers, as VIRTIO_F_ANY_LAYOUT allows); only readable-then-writable order is.
/// </summary>
public readonly record struct VirtioBlkRequest(uint Type, ulong Sector, ulong ReadableData, ulong WritableData, ulong StatusAddress)
{
    public const int HeaderBytes = 16;

    /// <summary>
    /// Parses <paramref name="chain"/>; false when the chain has no writable byte for the status or no room for the
    /// header, i.e. nowhere to report an error (the device then needs a reset).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<GuestBuffer> chain, IGuestMemory memory, out VirtioBlkRequest request)
    {
        request = default;
        ulong readable = 0, writable = 0;
        int lastWritable = -1;
        for (int i = 0; i < chain.Length; i++)
        {
            if (chain[i].DeviceWritable) { writable += chain[i].Length; if (chain[i].Length != 0) lastWritable = i; }
            else readable += chain[i].Length;
        }
        if (readable < HeaderBytes || lastWritable < 0) return false;
        Span<byte> header = stackalloc byte[HeaderBytes];
        GuestScatter.Read(memory, chain, writable: false, 0, header);
        var last = chain[lastWritable];
        request = new VirtioBlkRequest(
            Type: BinaryPrimitives.ReadUInt32LittleEndian(header),
            Sector: BinaryPrimitives.ReadUInt64LittleEndian(header[8..]),
            ReadableData: readable - HeaderBytes,
            WritableData: writable - 1,
            StatusAddress: last.Address + last.Length - 1);
        return true;
    }
}

/// <summary>Copies between host spans and the readable or writable part of a validated chain, as one byte stream.</summary>
public static class GuestScatter
{
    public static void Read(IGuestMemory memory, ReadOnlySpan<GuestBuffer> chain, bool writable, ulong offset, Span<byte> destination)
    {
        foreach (var b in chain)
        {
            if (destination.IsEmpty) return;
            if (b.DeviceWritable != writable) continue;
            if (offset >= b.Length) { offset -= b.Length; continue; }
            int n = (int)Math.Min((ulong)destination.Length, b.Length - offset);
            memory.ReadPhysical(b.Address + offset, destination[..n]);
            destination = destination[n..];
            offset = 0;
        }
    }

    public static void Write(IGuestMemory memory, ReadOnlySpan<GuestBuffer> chain, ulong offset, ReadOnlySpan<byte> source)
    {
        foreach (var b in chain)
        {
            if (source.IsEmpty) return;
            if (!b.DeviceWritable) continue;
            if (offset >= b.Length) { offset -= b.Length; continue; }
            int n = (int)Math.Min((ulong)source.Length, b.Length - offset);
            memory.WritePhysical(b.Address + offset, source[..n]);
            source = source[n..];
            offset = 0;
        }
    }
}
