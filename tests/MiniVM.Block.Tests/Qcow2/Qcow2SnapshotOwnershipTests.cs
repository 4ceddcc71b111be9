using MiniVM.Block.Qcow2;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>
/// <see cref="ISnapshotOwnership"/> on qcow2: a snapshot owns the guest clusters its own table maps to data (or zero)
/// that the current state no longer reads, and says how many of those bytes only it references.
/// </summary>
public sealed class Qcow2SnapshotOwnershipTests : IDisposable
{
    private const int Cluster = 4096;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (long[] Clusters, SnapshotOwnership Summary) Owned(Qcow2Image q, string snapshot)
    {
        var list = new List<long>();
        var summary = q.VisitOwnedClusters(snapshot, list.Add);
        Assert.Equal(list.Count, summary.Clusters);
        return (list.ToArray(), summary);
    }

    private static byte[] Pattern(byte value, int length)
    {
        var b = new byte[length];
        Array.Fill(b, value);
        return b;
    }

    [Fact]
    public void Rewrite_discard_and_write_zeroes_give_the_snapshot_the_old_data()
    {
        using var q = Qcow2Fixture.Create(_dir.File("o.qcow2"), 1 << 20, "compat=1.1,cluster_size=4K");
        q.Write(0, Pattern(1, 10 * Cluster)); // clusters 0..9
        q.CreateSnapshot("a");
        Assert.Equal(new SnapshotOwnership(0, 0), Owned(q, "a").Summary); // everything still shared

        q.Write(3 * Cluster, Pattern(2, Cluster));     // rewrite
        q.Discard(5 * Cluster, Cluster);               // unallocated now
        q.WriteZeroes(7 * Cluster, Cluster);           // reads as zeroes now
        q.Write(20 * Cluster, Pattern(3, Cluster));    // new data where "a" has none: not a's
        var (a, sa) = Owned(q, "a");
        Assert.Equal([3, 5, 7], a);
        Assert.Equal(3L * Cluster, sa.ExclusiveBytes); // refcount 1: only "a" holds the old clusters

        q.CreateSnapshot("b");
        Assert.Equal(new SnapshotOwnership(0, 0), Owned(q, "b").Summary);
        q.Write(3 * Cluster, Pattern(4, Cluster));     // b's cluster 3 (pattern 2) is now b's alone
        q.Write(8 * Cluster, Pattern(5, Cluster));     // cluster 8 (pattern 1) is shared by "a" and "b"
        var (b, sb) = Owned(q, "b");
        Assert.Equal([3, 8], b);
        Assert.Equal(1L * Cluster, sb.ExclusiveBytes); // cluster 8's old data is also a's: not only b's
        (a, sa) = Owned(q, "a");
        Assert.Equal([3, 5, 7, 8], a);
        Assert.Equal(3L * Cluster, sa.ExclusiveBytes);

        q.WriteZeroes(0, 2 * Cluster);                 // zeroes in the current state, data in both snapshots
        q.CreateSnapshot("c");
        Assert.Equal([], Owned(q, "c").Clusters);     // "c" reads what the current state reads, zeroes included
        q.Write(0, Pattern(6, Cluster));               // the zero cluster 0 of "c" is now c's (no host bytes)
        var (c, sc) = Owned(q, "c");
        Assert.Equal([0], c);
        Assert.Equal(0, sc.ExclusiveBytes);

        // After a revert to "a", "a" owns nothing; "b" owns where its data differs from a's table: 3 (rewritten),
        // 7 (zero where "a" has data) and 20 (data where "a" has none), not 5 (b left it unallocated).
        q.RevertToSnapshot("a");
        Assert.Equal([], Owned(q, "a").Clusters);
        Assert.Equal([3, 7, 20], Owned(q, "b").Clusters);
        Assert.Throws<ImageFormatException>(() => q.VisitOwnedClusters("nope", _ => { }));
        var r = q.Check();
        Assert.True(r.IsClean, string.Join("\n", r.Messages.Take(10)));
    }

    [Fact]
    public void A_sparse_tebibyte_image_visits_only_what_changed()
    {
        using var q = Qcow2Fixture.Create(_dir.File("big.qcow2"), 1L << 40, "cluster_size=64K");
        q.Write(0, Pattern(1, 65536));
        q.Write(512L << 30, Pattern(2, 65536));
        q.CreateSnapshot("s");
        q.Write(512L << 30, Pattern(3, 65536));
        var (s, summary) = Owned(q, "s");
        Assert.Equal([(512L << 30) / 65536], s);
        Assert.Equal(65536, summary.ExclusiveBytes);
    }
}
