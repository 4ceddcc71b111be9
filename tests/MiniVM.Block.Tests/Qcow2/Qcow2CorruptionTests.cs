using System.Buffers.Binary;
using MiniVM.Block.Qcow2;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>
/// Hostile images field by field (qcow3.md §4.4): each bad value gives one ImageFormatException naming what is wrong,
/// never another exception, a hang or a huge allocation.
/// </summary>
public sealed class Qcow2CorruptionTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _img;
    private readonly byte[] _pristine;

    public Qcow2CorruptionTests()
    {
        _img = _dir.File("victim.qcow2");
        using (var q = Qcow2Fixture.Create(_img, 1 << 20, "cluster_size=4K"))
        {
            q.Write(0, new byte[10000].Select((_, i) => (byte)i).ToArray());
            q.CreateSnapshot("snap", 0, s => s.Write(new byte[5000]));
            q.Write(500_000, new byte[3000]);
            q.SetUserMetadata("k", "v"u8);
        }
        _pristine = File.ReadAllBytes(_img);
    }

    public void Dispose() => _dir.Dispose();

    private Qcow2Header Header => Qcow2Header.Parse(_pristine.AsSpan(0, 4096), _pristine.Length, _img);

    private void Put32(int offset, uint v) { var b = (byte[])_pristine.Clone(); BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(offset), v); File.WriteAllBytes(_img, b); }
    private void Put64(long offset, ulong v) { var b = (byte[])_pristine.Clone(); BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan((int)offset), v); File.WriteAllBytes(_img, b); }

    /// <summary>Open read-write, read everything, check: the first failure must be an ImageFormatException.</summary>
    private string Fails(bool readOnly = false)
    {
        var e = Assert.Throws<ImageFormatException>(() =>
        {
            using var q = Qcow2Fixture.Open(_img, readOnly);
            Qcow2Fixture.ReadAll(q);
            foreach (var s in q.ListSnapshots()) { using var vs = q.OpenVmState(s.Id); vs.ReadExactly(new byte[vs.Length]); }
            q.Write(0, new byte[1]);
            q.Flush();
        });
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Theory]
    [InlineData(0, 0x514649FAu, "magic")]
    [InlineData(4, 1u, "version")]
    [InlineData(4, 4u, "version")]
    [InlineData(20, 8u, "cluster_bits")]
    [InlineData(20, 22u, "cluster_bits")]
    [InlineData(32, 1u, "crypt_method")]
    [InlineData(32, 2u, "crypt_method")]
    [InlineData(36, 0u, "l1_size")]
    [InlineData(36, 0x7FFFFFFFu, "l1_size")]
    [InlineData(56, 0u, "refcount_table_clusters")]
    [InlineData(56, 100000u, "refcount_table_clusters")]
    [InlineData(60, 70000u, "nb_snapshots")]
    [InlineData(60, 60000u, "snapshot")]
    [InlineData(96, 7u, "refcount_order")]
    [InlineData(100, 96u, "header_length")]
    [InlineData(100, 108u, "header_length")]
    [InlineData(100, 106u, "header_length")]
    [InlineData(100, 8192u, "header_length")]
    [InlineData(16, 2000u, "backing_file_size")]
    public void Header32BitFields(int offset, uint value, string field)
    {
        if (field == "backing_file_size") Put64(8, 200); // give it an offset so the size is checked
        if (field == "backing_file_size") { var b = File.ReadAllBytes(_img); BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(offset), value); File.WriteAllBytes(_img, b); }
        else Put32(offset, value);
        Assert.Contains(field, Fails());
    }

    [Theory]
    [InlineData(24, 1UL << 60, "size")]
    [InlineData(24, 1UL << 40, "size")] // needs far more than l1_size
    [InlineData(40, 4097UL, "l1_table_offset")]
    [InlineData(40, 1UL << 40, "l1_table_offset")]
    [InlineData(48, 0UL, "refcount_table_offset")]
    [InlineData(48, 100UL, "refcount_table_offset")]
    [InlineData(48, 1UL << 57, "refcount_table_offset")]
    [InlineData(64, 1UL << 40, "snapshots_offset")]
    [InlineData(64, 4100UL, "snapshots_offset")]
    [InlineData(8, 5000UL, "backing_file_offset")]
    [InlineData(8, 10UL, "backing_file_offset")]
    public void Header64BitFields(int offset, ulong value, string field)
    {
        Put64(offset, value);
        if (field == "backing_file_offset") { var b = File.ReadAllBytes(_img); BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), 10); File.WriteAllBytes(_img, b); }
        Assert.Contains(field, Fails());
    }

    [Theory]
    [InlineData(1UL << 20, "unknown incompatible")]
    [InlineData(1UL << 2, "external data")]
    [InlineData(1UL << 3, "compression")]
    [InlineData(1UL << 4, "extended L2")]
    public void IncompatibleFeatureBits(ulong bits, string message)
    {
        Put64(72, bits);
        Assert.Contains(message, Fails(readOnly: true));
    }

    [Fact]
    public void CorruptBitMakesTheImageReadOnlyUntilRepaired()
    {
        Put64(72, 1UL << 1);
        Assert.Contains("marked corrupt", Fails());
        using (var q = Qcow2Fixture.Open(_img))
        {
            Assert.True(q.IsReadOnly);
            var r = q.Check(RepairMode.All);
            Assert.True(r.IsClean);
        }
        using var again = Qcow2Fixture.Open(_img);
        Assert.False(again.IsReadOnly);
        again.Write(0, new byte[] { 1 });
    }

    [Fact]
    public void UncountedMetadataRefusesWritesUntilRepaired()
    {
        // The L1 table's refcount is 0: an allocation could overwrite it, so writing waits for check -r all.
        var h = Header;
        long block = (long)BinaryPrimitives.ReadUInt64BigEndian(_pristine.AsSpan((int)h.RefcountTableOffset));
        var b = (byte[])_pristine.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan((int)(block + h.L1TableOffset / 4096 * 2)), 0);
        File.WriteAllBytes(_img, b);
        Assert.Contains("marked corrupt", Fails());
        using (var q = Qcow2Fixture.Open(_img))
        {
            Assert.True(q.IsReadOnly);
            Assert.True(q.Check(RepairMode.All).IsClean);
            q.Write(0, new byte[] { 42 });
        }
        using var again = Qcow2Fixture.Open(_img);
        Assert.False(again.IsReadOnly);
        var one = new byte[1];
        again.Read(0, one);
        Assert.Equal(42, one[0]);
    }

    [Fact]
    public void AutoclearBitsAreClearedOnWriteOpen()
    {
        Put64(88, 1UL << 1);
        using (Qcow2Fixture.Open(_img, readOnly: true)) { }
        Assert.Equal(1UL << 1, BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(_img).AsSpan(88)));
        using (Qcow2Fixture.Open(_img)) { }
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(_img).AsSpan(88)));
    }

    [Fact]
    public void DirtyBitRebuildsRefcountsOnWriteOpen()
    {
        // A dirty image (lazy refcounts) may have stale counts: here one data cluster's count is lost.
        var h = Header;
        long rtEntry0 = (long)BinaryPrimitives.ReadUInt64BigEndian(_pristine.AsSpan((int)h.RefcountTableOffset));
        var b = (byte[])_pristine.Clone();
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(72), 1);
        long victimCluster = h.L1TableOffset / 4096 + 1;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan((int)(rtEntry0 + victimCluster * 2)), 0);
        File.WriteAllBytes(_img, b);
        using (var ro = Qcow2Fixture.Open(_img, readOnly: true))
            Assert.False(ro.Check().IsClean);
        using (var q = Qcow2Fixture.Open(_img))
            Assert.True(q.Check().IsClean);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(File.ReadAllBytes(_img).AsSpan(72)));
    }

    [Fact]
    public void ExtensionRunningPastClusterZero()
    {
        // The first extension after the 112-byte header is our metadata; give it a huge length.
        Put32(112 + 4, 0x7FFFFFF0);
        Assert.Contains("header extension", Fails());
    }

    [Fact]
    public void DuplicateExtension()
    {
        var b = (byte[])_pristine.Clone();
        // Our metadata extension (type, len=8+6+1+1=16) repeated right after itself.
        Array.Copy(b, 112, b, 112 + 8 + 16, 8 + 16);
        File.WriteAllBytes(_img, b);
        Assert.Contains("appears twice", Fails());
    }

    [Fact]
    public void MetadataEntryCountTooLarge()
    {
        Put32(112 + 8 + 4, 1_000_000);
        Assert.Contains("user metadata entry count", Fails());
    }

    [Fact]
    public void L1EntryWithReservedBits()
    {
        Put64(Header.L1TableOffset, (ulong)BinaryPrimitives.ReadInt64BigEndian(_pristine.AsSpan((int)Header.L1TableOffset)) | 1);
        Assert.Contains("reserved bits", Fails());
    }

    [Fact]
    public void L2TablePastEndOfFile()
    {
        Put64(Header.L1TableOffset, Qcow2Entry.Copied | (1UL << 40));
        Assert.Contains("L2 table offset", Fails());
    }

    [Fact]
    public void DataClusterMisaligned()
    {
        long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(_pristine.AsSpan((int)Header.L1TableOffset)) & Qcow2Entry.OffsetMask);
        ulong e = BinaryPrimitives.ReadUInt64BigEndian(_pristine.AsSpan((int)l2));
        Put64(l2, e + 512);
        Assert.Contains("not cluster-aligned", Fails());
    }

    [Fact]
    public void CompressedDescriptorPastEndOfFileOrGarbage()
    {
        long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(_pristine.AsSpan((int)Header.L1TableOffset)) & Qcow2Entry.OffsetMask);
        Put64(l2, Qcow2Entry.Compressed | (1UL << 50));
        Assert.Contains("compressed cluster", Fails(readOnly: true));
        Put64(l2, Qcow2Entry.Compressed | 4096); // points at the refcount table: not deflate data
        Assert.Contains("compressed cluster", Fails(readOnly: true));
    }

    [Fact]
    public void RefcountTableEntryGarbageIsReportedByCheck()
    {
        Put64(Header.RefcountTableOffset, 12345);
        using var q = Qcow2Fixture.Open(_img, readOnly: true);
        var r = q.Check();
        Assert.True(r.Corruptions > 0);
        Assert.Contains(r.Messages, m => m.Contains("refcount table entry"));
    }

    [Fact]
    public void SnapshotTableEntriesAreBounded()
    {
        long sn = Header.SnapshotsOffset;
        Put32((int)sn + 36, 5000); // extra_data_size
        Assert.Contains("extra_data_size", Fails());
        Put32((int)sn + 8, 0x7FFFFFFF); // l1_size
        Assert.Contains("l1_size", Fails());
        Put64(sn, 4097); // l1_table_offset
        Assert.Contains("l1_table_offset", Fails());
        Put64(sn + 40, 1UL << 60); // vm_state_size_large
        Assert.Contains("vm_state_size_large", Fails());
    }

    [Fact]
    public void OldQcow3PatchLayoutIsNamed()
    {
        // McCallum 2008: version 3, metadata area at 72 in place of the v3 header fields.
        var b = new byte[4096 * 4];
        BinaryPrimitives.WriteUInt32BigEndian(b, Qcow2Header.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 3);
        var meta = "Backing-File:base.img\0"u8;
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), 72);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), (uint)meta.Length);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), 12);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), 1 << 20);
        meta.CopyTo(b.AsSpan(72));
        File.WriteAllBytes(_img, b);
        Assert.Contains("2008 'qcow3' patch layout", Fails(readOnly: true));
    }

    [Fact]
    public void TruncatedFiles()
    {
        foreach (int len in new[] { 0, 4, 71, 100, 4096, 8192 })
        {
            File.WriteAllBytes(_img, _pristine.AsSpan(0, len).ToArray());
            Fails();
        }
    }
}
