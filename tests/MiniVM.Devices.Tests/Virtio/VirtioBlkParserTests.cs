using System.Buffers.Binary;
using MiniVM.Devices.Virtio;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>
/// VirtioBlkRequest.TryParse on its own: chains laid out by hand in guest memory become a typed request with its byte
/// range checked, or the status to report without I/O, or false when there is nowhere to put a status.
/// </summary>
public sealed class VirtioBlkParserTests
{
    private const ulong Header = 0x100, Data = 0x1000, Status = 0x3000;
    private static readonly VirtioBlkLimits Disk = new(CapacitySectors: 64, ReadOnly: false, FlushSupported: true, DiscardSupported: true, WriteZeroesSupported: true);

    private readonly StrictGuestMemory _ram = new(0x4000);

    private void WriteHeader(uint type, ulong sector, ulong at = Header)
    {
        var h = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), sector);
        _ram.WritePhysical(at, h);
    }

    private void WriteSegment(ulong sector, uint count, uint flags)
    {
        var s = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(s, sector);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(8), count);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(12), flags);
        _ram.WritePhysical(Data, s);
    }

    private VirtioBlkRequest Parse(GuestBuffer[] chain, VirtioBlkLimits? limits = null)
    {
        Assert.True(VirtioBlkRequest.TryParse(chain, _ram, limits ?? Disk, out var request));
        return request;
    }

    private static GuestBuffer R(ulong at, uint length) => new(at, length, DeviceWritable: false);
    private static GuestBuffer W(ulong at, uint length) => new(at, length, DeviceWritable: true);

    [Fact]
    public void A_read_becomes_a_byte_range_and_the_status_is_the_last_writable_byte()
    {
        WriteHeader(VirtioBlkRequestType.In, 3);
        var r = Parse([R(Header, 16), W(Data, 1024), W(Status, 1)]);
        Assert.Equal(new VirtioBlkRequest { Kind = VirtioBlkRequestKind.Read, Offset = 3 * 512, Length = 1024, StatusAddress = Status }, r);
    }

    [Fact]
    public void Header_and_data_may_share_or_split_buffers()
    {
        // The header split over two readable buffers, the write's data after it in the second; data and status share one
        // writable buffer on the read (VIRTIO_F_ANY_LAYOUT).
        var h = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(h, VirtioBlkRequestType.Out);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), 63);
        _ram.WritePhysical(Header, h.AsSpan(0, 6));
        _ram.WritePhysical(Data, h.AsSpan(6));
        var write = Parse([R(Header, 6), R(Data, 10 + 512), W(Status, 1)]);
        Assert.Equal((VirtioBlkRequestKind.Write, 63L * 512, 512L, (byte?)null), (write.Kind, write.Offset, write.Length, write.Rejection));

        WriteHeader(VirtioBlkRequestType.In, 0);
        var read = Parse([R(Header, 16), W(Data, 512 + 1)]);
        Assert.Equal((VirtioBlkRequestKind.Read, 512L, Data + 512), (read.Kind, read.Length, read.StatusAddress));
    }

    public static TheoryData<uint, ulong, uint, uint, byte> Rejected => new()
    {
        // type, sector, readable data bytes, writable data bytes, status
        { VirtioBlkRequestType.In, 64, 0, 512, VirtioBlkStatus.IoErr },               // starts past the end
        { VirtioBlkRequestType.In, 63, 0, 1024, VirtioBlkStatus.IoErr },              // ends past the end
        { VirtioBlkRequestType.Out, ulong.MaxValue, 512, 0, VirtioBlkStatus.IoErr },  // sector * 512 would overflow
        { VirtioBlkRequestType.In, 0, 0, 100, VirtioBlkStatus.IoErr },                // not whole sectors
        { VirtioBlkRequestType.In, 0, 512, 512, VirtioBlkStatus.IoErr },              // a read with data to the device
        { VirtioBlkRequestType.Out, 0, 512, 512, VirtioBlkStatus.IoErr },             // a write with data from the device
        { VirtioBlkRequestType.GetId, 0, 8, 20, VirtioBlkStatus.IoErr },              // GET_ID with readable data
        { 99, 0, 0, 0, VirtioBlkStatus.Unsupp },                                       // an unknown type
        { 7, 0, 0, 512, VirtioBlkStatus.Unsupp },                                      // GET_LIFETIME: not offered
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public void Bad_requests_carry_their_status_and_no_range(uint type, ulong sector, uint readable, uint writable, byte status)
    {
        WriteHeader(type, sector);
        var chain = new List<GuestBuffer> { R(Header, 16) };
        if (readable > 0) chain.Add(R(Data, readable));
        if (writable > 0) chain.Add(W(Data + 0x800, writable));
        chain.Add(W(Status, 1));
        var r = Parse([.. chain]);
        Assert.Equal(status, r.Rejection);
        Assert.Equal((0L, 0L, Status), (r.Offset, r.Length, r.StatusAddress));
        if (type is 99 or 7) Assert.Equal(VirtioBlkRequestKind.Unsupported, r.Kind);
    }

    [Fact]
    public void Writes_discards_and_zeroing_of_a_read_only_disk_are_io_errors_and_unnegotiated_features_unsupported()
    {
        var readOnly = Disk with { ReadOnly = true };
        WriteHeader(VirtioBlkRequestType.Out, 0);
        Assert.Equal(VirtioBlkStatus.IoErr, Parse([R(Header, 16), R(Data, 512), W(Status, 1)], readOnly).Rejection);
        WriteHeader(VirtioBlkRequestType.Discard, 0);
        WriteSegment(0, 1, 0);
        Assert.Equal(VirtioBlkStatus.IoErr, Parse([R(Header, 16), R(Data, 16), W(Status, 1)], readOnly).Rejection);
        Assert.Equal((VirtioBlkRequestKind.Unsupported, (byte?)VirtioBlkStatus.Unsupp),
            (Parse([R(Header, 16), R(Data, 16), W(Status, 1)], Disk with { DiscardSupported = false }) is var d ? (d.Kind, d.Rejection) : default));
        WriteHeader(VirtioBlkRequestType.Flush, 0);
        Assert.Equal(VirtioBlkStatus.Unsupp, Parse([R(Header, 16), W(Status, 1)], Disk with { FlushSupported = false }).Rejection);
        var flush = Parse([R(Header, 16), W(Status, 1)], readOnly);
        Assert.Equal((VirtioBlkRequestKind.Flush, (byte?)null), (flush.Kind, flush.Rejection)); // nothing to flush, but not an error
    }

    [Fact]
    public void Discard_and_write_zeroes_segments_are_parsed_and_checked()
    {
        WriteHeader(VirtioBlkRequestType.Discard, 0);
        WriteSegment(8, 4, 0);
        Assert.Equal(new VirtioBlkRequest { Kind = VirtioBlkRequestKind.Discard, Offset = 4096, Length = 2048, StatusAddress = Status },
            Parse([R(Header, 16), R(Data, 16), W(Status, 1)]));

        WriteHeader(VirtioBlkRequestType.WriteZeroes, 0);
        WriteSegment(60, 4, VirtioBlkRequest.UnmapFlag);
        var zero = Parse([R(Header, 16), R(Data, 16), W(Status, 1)]);
        Assert.Equal((VirtioBlkRequestKind.WriteZeroes, 60L * 512, 2048L, true, (byte?)null), (zero.Kind, zero.Offset, zero.Length, zero.Unmap, zero.Rejection));

        WriteSegment(61, 4, 0);                                                            // ends past the disk
        Assert.Equal(VirtioBlkStatus.IoErr, Parse([R(Header, 16), R(Data, 16), W(Status, 1)]).Rejection);
        WriteSegment(0, 4, 2);                                                             // an undefined flag
        Assert.Equal(VirtioBlkStatus.Unsupp, Parse([R(Header, 16), R(Data, 16), W(Status, 1)]).Rejection);
        WriteSegment(0, VirtioBlkLimits.MaxWriteZeroesSectors + 1, 0);                    // more than max_write_zeroes_sectors
        Assert.Equal(VirtioBlkStatus.IoErr, Parse([R(Header, 16), R(Data, 16), W(Status, 1)], Disk with { CapacitySectors = 1L << 30 }).Rejection);
        WriteSegment(0, 1, 0);
        Assert.Equal(VirtioBlkStatus.IoErr, Parse([R(Header, 16), R(Data, 32), W(Status, 1)]).Rejection);   // two segments; max_*_seg is 1
        Assert.Equal(VirtioBlkStatus.IoErr, Parse([R(Header, 16), R(Data, 16), W(Data + 0x800, 8), W(Status, 1)]).Rejection); // data back

        WriteHeader(VirtioBlkRequestType.Discard, 0);
        WriteSegment(0, 1, VirtioBlkRequest.UnmapFlag);                                    // discard defines no flags
        Assert.Equal(VirtioBlkStatus.Unsupp, Parse([R(Header, 16), R(Data, 16), W(Status, 1)]).Rejection);
    }

    [Fact]
    public void Get_id_writes_at_most_twenty_bytes()
    {
        WriteHeader(VirtioBlkRequestType.GetId, 0);
        Assert.Equal(20, Parse([R(Header, 16), W(Data, 64), W(Status, 1)]).Length);
        Assert.Equal(8, Parse([R(Header, 16), W(Data, 8), W(Status, 1)]).Length);
    }

    [Fact]
    public void A_chain_without_a_status_byte_or_a_whole_header_cannot_be_answered()
    {
        WriteHeader(VirtioBlkRequestType.In, 0);
        Assert.False(VirtioBlkRequest.TryParse([R(Header, 16), R(Data, 512)], _ram, Disk, out _));
        Assert.False(VirtioBlkRequest.TryParse([R(Header, 16), W(Data, 0)], _ram, Disk, out _));
        Assert.False(VirtioBlkRequest.TryParse([R(Header, 15), W(Status, 1)], _ram, Disk, out _));
    }
}
