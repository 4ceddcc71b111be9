using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>
/// A partial write into an unallocated cluster (add-cow.md §3.4 step 3): where the backing reads zeroes and raw is a
/// hole, only the guest bytes are written ("writing only the gaps plus the guest bytes"); otherwise the cluster is
/// filled from the backing. Either way the rest of the cluster reads what it read before, also after a reopen.
/// </summary>
public sealed class AddCowPartialWriteTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private void EmptyRawBacking(long size)
    {
        using var b = ImageFormats.Default.Create("raw", _dir.File("base.img"), size, new ImageCreateOptions());
    }

    private static List<(AddCowHostOp Op, long Offset, long Length)> Record(AddCowImage img)
    {
        // Data writes only: each request also syncs raw and writes its bits through (issue 11), which
        // AddCowFlushOrderTests checks; here the point is how much data a partial write moves.
        var journal = new List<(AddCowHostOp, long, long)>();
        img.HostObserver = (op, off, len, _) => { if (op == AddCowHostOp.RawWrite) journal.Add((op, off, len)); };
        return journal;
    }

    private static byte[] Pattern(int length, byte value)
    {
        var b = new byte[length];
        b.AsSpan().Fill(value);
        return b;
    }

    [Fact]
    public void A_4k_write_over_a_zero_backing_writes_only_the_4k_and_the_cluster_reads_zeroes_around_it()
    {
        EmptyRawBacking(16 * Cluster);
        var expected = new byte[16 * Cluster];
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            var journal = Record(img);
            img.Write(3 * Cluster + 8192, Pattern(4096, 0x5a));
            Assert.Equal([(AddCowHostOp.RawWrite, 3L * Cluster + 8192, 4096L)], journal);
            Assert.True(img.IsAllocated(3));
            expected.AsSpan(3 * Cluster + 8192, 4096).Fill(0x5a);
            Assert.Equal(expected, AddCowFixture.ReadAll(img));
        }
        using var again = AddCowFixture.Open(_dir.File("d.add-cow"));
        Assert.True(again.IsAllocated(3));
        Assert.Equal(expected, AddCowFixture.ReadAll(again));
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void Stale_bytes_in_a_raw_file_that_existed_at_create_never_show_through_a_partial_write()
    {
        EmptyRawBacking(4 * Cluster);
        // The raw file is there before the add-cow file, full of 0xee: all of it is unallocated, so it reads as the
        // (zero) backing, and a partial write must not let the rest of the cluster show the 0xee bytes.
        File.WriteAllBytes(_dir.File("d.raw"), Pattern(4 * Cluster, 0xee));
        var expected = new byte[4 * Cluster];
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            Assert.Equal(expected, AddCowFixture.ReadAll(img));
            img.Write(Cluster + 100, Pattern(300, 0x11));
            img.Write(2 * Cluster + Cluster - 512, Pattern(1024, 0x22)); // ends in cluster 3
            expected.AsSpan(Cluster + 100, 300).Fill(0x11);
            expected.AsSpan(3 * Cluster - 512, 1024).Fill(0x22);
            Assert.Equal(expected, AddCowFixture.ReadAll(img));
        }
        using var again = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        Assert.Equal(expected, AddCowFixture.ReadAll(again));
    }

    [Fact]
    public void A_partial_write_over_backing_data_still_copies_the_whole_cluster()
    {
        byte[] content = AddCowFixture.CreateBacking(_dir, "base.img", "raw", 4 * Cluster, 5);
        using var img = AddCowFixture.Create(_dir, 0);
        var journal = Record(img);
        img.Write(2 * Cluster + 10, Pattern(20, 0x33));
        Assert.Equal([(AddCowHostOp.RawWrite, 2L * Cluster, (long)Cluster)], journal);
        var expected = (byte[])content.Clone();
        expected.AsSpan(2 * Cluster + 10, 20).Fill(0x33);
        Assert.Equal(expected, AddCowFixture.ReadAll(img));
    }

    [Fact]
    public void A_qcow2_backing_is_read_through_its_own_backing_to_decide()
    {
        // base.raw holds data in cluster 0 only; mid.qcow2 over it writes nothing. Cluster 0 of the add-cow disk
        // must be filled from base.raw through the qcow2; cluster 1 reads zeroes all the way down.
        using (var raw = ImageFormats.Default.Create("raw", _dir.File("base.raw"), 4 * Cluster, new ImageCreateOptions()))
            raw.Write(0, Pattern(Cluster, 0x77));
        using (ImageFormats.Default.Create("qcow2", _dir.File("base.img"), 4 * Cluster,
                   new ImageCreateOptions { BackingFile = "base.raw", BackingFormat = "raw" })) { }
        var expected = new byte[4 * Cluster];
        expected.AsSpan(0, Cluster).Fill(0x77);
        using var img = AddCowFixture.Create(_dir, 0, backingFmt: "qcow2");
        var journal = Record(img);
        img.Write(4096, Pattern(512, 0x01));
        img.Write(Cluster + 4096, Pattern(512, 0x02));
        expected.AsSpan(4096, 512).Fill(0x01);
        expected.AsSpan(Cluster + 4096, 512).Fill(0x02);
        Assert.Equal([(AddCowHostOp.RawWrite, 0L, (long)Cluster), (AddCowHostOp.RawWrite, Cluster + 4096L, 512L)], journal);
        Assert.Equal(expected, AddCowFixture.ReadAll(img));
    }

    [Fact]
    public void Zeroes_written_into_part_of_a_cluster_over_a_zero_backing_allocate_nothing()
    {
        EmptyRawBacking(4 * Cluster);
        using var img = AddCowFixture.Create(_dir, 0);
        var journal = Record(img);
        img.WriteZeroes(Cluster + 512, 4096);
        Assert.Empty(journal);
        Assert.False(img.IsAllocated(1));
        Assert.Equal(new byte[4 * Cluster], AddCowFixture.ReadAll(img));
    }
}
