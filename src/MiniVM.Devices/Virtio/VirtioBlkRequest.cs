using System.Buffers.Binary;

namespace MiniVM.Devices.Virtio;

/// <summary>What a virtio-blk request asks for (VIRTIO 1.1 §5.2.6), once its type number has been recognised.</summary>
public enum VirtioBlkRequestKind
{
    /// <summary>VIRTIO_BLK_T_IN: disk to the writable data buffers.</summary>
    Read,
    /// <summary>VIRTIO_BLK_T_OUT: the readable data buffers to disk.</summary>
    Write,
    Flush,
    /// <summary>The device's serial number (up to 20 bytes) into the writable data buffers.</summary>
    GetId,
    Discard,
    WriteZeroes,
    /// <summary>A type this device does not offer, or one whose feature the driver did not negotiate: VIRTIO_BLK_S_UNSUPP.</summary>
    Unsupported,
}

/// <summary>What the parser must know of the device to check a request: its size and what the driver negotiated.</summary>
public readonly record struct VirtioBlkLimits(long CapacitySectors, bool ReadOnly, bool FlushSupported, bool DiscardSupported, bool WriteZeroesSupported)
{
    public const uint MaxDiscardSectors = 1 << 22, MaxWriteZeroesSectors = 1 << 22;
}

/// <summary>
/// A virtio-blk request parsed and checked from a validated chain, before any I/O (Firecracker's Request::parse):
/// the 16-byte header from the readable buffers, the data between, and the status byte at the end of the writable
/// buffers. The layout is not assumed (header and data may share or split buffers, as VIRTIO_F_ANY_LAYOUT allows);
/// only readable-then-writable order is. A request is either acted on as it stands — its byte range already inside
/// the disk, its direction matching its buffers, its discard/write-zeroes segment read — or carries the
/// <see cref="Rejection"/> status to report without touching the disk.
/// </summary>
public readonly record struct VirtioBlkRequest
{
    public const int HeaderBytes = 16;
    /// <summary>One struct virtio_blk_discard_write_zeroes: sector, num_sectors, flags.</summary>
    public const int SegmentBytes = 16;
    public const int SectorSize = 512;
    /// <summary>VIRTIO_BLK_ID_BYTES.</summary>
    public const int IdBytes = 20;
    /// <summary>The one flag of a write-zeroes segment (§5.2.6.2); discard defines none.</summary>
    public const uint UnmapFlag = 1;

    public VirtioBlkRequestKind Kind { get; init; }
    /// <summary>The disk byte offset (read, write, discard, write zeroes).</summary>
    public long Offset { get; init; }
    /// <summary>Bytes to move or clear: the data length, or for <see cref="VirtioBlkRequestKind.GetId"/> the bytes of the id to write.</summary>
    public long Length { get; init; }
    /// <summary>Write zeroes may deallocate (VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP).</summary>
    public bool Unmap { get; init; }
    /// <summary>The guest-physical address of the status byte, inside a validated writable buffer.</summary>
    public ulong StatusAddress { get; init; }
    /// <summary>The status to report instead of acting (VIRTIO_BLK_S_IOERR or _UNSUPP); null for a request to execute.</summary>
    public byte? Rejection { get; init; }

    /// <summary>
    /// Parses <paramref name="chain"/>; false when the chain has no writable byte for the status or no room for the
    /// header, i.e. nowhere to report an error (the device then needs a reset).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<GuestBuffer> chain, IGuestMemory memory, in VirtioBlkLimits limits, out VirtioBlkRequest request)
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
        ulong status = last.Address + last.Length - 1;
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        ulong readableData = readable - HeaderBytes, writableData = writable - 1;
        request = Check(type, sector, readableData, writableData, chain, memory, limits) with { StatusAddress = status };
        return true;
    }

    private static VirtioBlkRequest Check(uint type, ulong sector, ulong readableData, ulong writableData,
        ReadOnlySpan<GuestBuffer> chain, IGuestMemory memory, in VirtioBlkLimits limits)
    {
        switch (type)
        {
            case VirtioBlkRequestType.In:
                // Data flows one way per type: a readable data buffer on a read is a malformed request (§5.2.6.1).
                if (readableData != 0) return IoError(VirtioBlkRequestKind.Read);
                return Ranged(VirtioBlkRequestKind.Read, sector, writableData, limits);
            case VirtioBlkRequestType.Out:
                if (writableData != 0 || limits.ReadOnly) return IoError(VirtioBlkRequestKind.Write);
                return Ranged(VirtioBlkRequestKind.Write, sector, readableData, limits);
            case VirtioBlkRequestType.Flush:
                return limits.FlushSupported ? new() { Kind = VirtioBlkRequestKind.Flush } : Unsupported;
            case VirtioBlkRequestType.GetId:
                if (readableData != 0) return IoError(VirtioBlkRequestKind.GetId);
                return new() { Kind = VirtioBlkRequestKind.GetId, Length = (long)Math.Min(writableData, IdBytes) };
            case VirtioBlkRequestType.Discard when limits.DiscardSupported:
                return Segment(VirtioBlkRequestKind.Discard, readableData, writableData, chain, memory, limits);
            case VirtioBlkRequestType.WriteZeroes when limits.WriteZeroesSupported:
                return Segment(VirtioBlkRequestKind.WriteZeroes, readableData, writableData, chain, memory, limits);
            default:
                return Unsupported;
        }
    }

    private static VirtioBlkRequest Unsupported => new() { Kind = VirtioBlkRequestKind.Unsupported, Rejection = VirtioBlkStatus.Unsupp };

    private static VirtioBlkRequest IoError(VirtioBlkRequestKind kind) => new() { Kind = kind, Rejection = VirtioBlkStatus.IoErr };

    /// <summary>A whole number of sectors, inside the disk: otherwise VIRTIO_BLK_S_IOERR.</summary>
    private static VirtioBlkRequest Ranged(VirtioBlkRequestKind kind, ulong sector, ulong bytes, in VirtioBlkLimits limits)
    {
        ulong capacity = (ulong)limits.CapacitySectors;
        if (bytes % SectorSize != 0 || sector > capacity || bytes / SectorSize > capacity - sector) return IoError(kind);
        return new() { Kind = kind, Offset = (long)sector * SectorSize, Length = (long)bytes };
    }

    /// <summary>One virtio_blk_discard_write_zeroes segment (max_*_seg is 1): sector, num_sectors, flags (§5.2.6).</summary>
    private static VirtioBlkRequest Segment(VirtioBlkRequestKind kind, ulong readableData, ulong writableData,
        ReadOnlySpan<GuestBuffer> chain, IGuestMemory memory, in VirtioBlkLimits limits)
    {
        if (readableData != SegmentBytes || writableData != 0) return IoError(kind);
        Span<byte> seg = stackalloc byte[SegmentBytes];
        GuestScatter.Read(memory, chain, writable: false, HeaderBytes, seg);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(seg);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(seg[8..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(seg[12..]);
        bool discard = kind == VirtioBlkRequestKind.Discard;
        // Discard defines no flags, write zeroes only UNMAP; unknown flags are unsupported (§5.2.6.2).
        if (flags != 0 && (discard || (flags & ~UnmapFlag) != 0)) return Unsupported with { Kind = kind };
        if (limits.ReadOnly || count > (discard ? VirtioBlkLimits.MaxDiscardSectors : VirtioBlkLimits.MaxWriteZeroesSectors)) return IoError(kind);
        return Ranged(kind, sector, (ulong)count * SectorSize, limits) with { Unmap = (flags & UnmapFlag) != 0 };
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
