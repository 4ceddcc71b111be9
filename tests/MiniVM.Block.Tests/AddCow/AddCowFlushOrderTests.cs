using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>
/// The crash-safety order of add-cow.md §3.5, checked on the journal of host steps the driver issues (the spec's
/// fault-injecting wrapper, §6.5): a power failure may drop any write not yet synced, so a bitmap write that sets bit
/// k must come after a raw sync that follows every raw write to cluster k.
/// </summary>
public sealed class AddCowFlushOrderTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Step(AddCowHostOp Op, long Offset, long Length, byte[] Bytes);

    private static List<Step> Record(AddCowImage img)
    {
        var journal = new List<Step>();
        img.HostObserver = (op, off, len, bytes) => journal.Add(new Step(op, off, len, bytes.ToArray()));
        return journal;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void NoBitReachesTheFileBeforeItsClusterIsSyncedInRaw(int seed)
    {
        const long Size = 40L * Cluster + 1024;
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", Size, seed);
        var rng = new Random(seed);
        var buf = new byte[4 * Cluster];
        List<Step> journal;
        int flushes = 0;
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            journal = Record(img);
            for (int i = 0; i < 300; i++)
            {
                long off = rng.NextInt64(Size);
                int len = (int)Math.Min(Size - off, rng.Next(1, buf.Length));
                switch (rng.Next(8))
                {
                    case 0: img.Flush(); flushes++; break;
                    case 1: img.WriteZeroes(off, len); break;
                    default: img.Write(off, buf.AsSpan(0, len)); break;
                }
            }
            img.Flush(); flushes++;
        }
        long clusters = (Size + Cluster - 1) / Cluster;
        var pending = new bool[clusters];   // written to raw since the last raw sync
        var synced = new bool[clusters];    // some raw write to it has been synced
        var durableBit = new bool[clusters];
        int rawSyncs = 0, bitsSet = 0;
        foreach (var s in journal)
        {
            switch (s.Op)
            {
                case AddCowHostOp.RawWrite:
                    for (long k = s.Offset / Cluster; k <= (s.Offset + s.Length - 1) / Cluster; k++) pending[k] = true;
                    break;
                case AddCowHostOp.RawSync:
                    rawSyncs++;
                    for (int k = 0; k < clusters; k++) { synced[k] |= pending[k]; pending[k] = false; }
                    break;
                case AddCowHostOp.BitmapWrite:
                    for (int b = 0; b < s.Bytes.Length; b++)
                        for (int bit = 0; bit < 8; bit++)
                        {
                            long k = (s.Offset + b) * 8 + bit;
                            if ((s.Bytes[b] & (1 << bit)) == 0 || durableBit[k]) continue;
                            Assert.True(synced[k] && !pending[k], $"bit {k} written while cluster {k}'s raw data was not synced");
                            durableBit[k] = true;
                            bitsSet++;
                        }
                    break;
            }
        }
        Assert.True(rawSyncs >= flushes, $"{flushes} flushes but {rawSyncs} raw syncs: every guest flush must sync raw");
        Assert.True(bitsSet > 10, $"only {bitsSet} bits were set: the workload did not exercise allocation");
        int lastBitmap = journal.FindLastIndex(s => s.Op == AddCowHostOp.BitmapWrite);
        Assert.Contains(journal.Skip(lastBitmap), s => s.Op == AddCowHostOp.MetaSync);
    }

    [Fact]
    public void RewritingAnAllocatedClusterIsOnlyARawWriteAndAFlushStillSyncsRaw()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 4 * Cluster, 9);
        using var img = AddCowFixture.Create(_dir, 0);
        img.Write(100, new byte[10]);
        img.Flush();
        var journal = Record(img);
        img.Write(5000, new byte[10]);
        img.Flush();
        Assert.Equal([AddCowHostOp.RawWrite, AddCowHostOp.RawSync], journal.Select(s => s.Op));
    }

    [Fact]
    public void AFlushWritesOnlyTheDirtyBitmapSectorsWhole()
    {
        // 2 GiB disk: 4096 bitmap bytes = 8 sectors; clusters 0 and 20000 dirty sectors 0 and 4.
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", Cluster, 10);
        using var img = AddCowFixture.Create(_dir, 2L << 30);
        var journal = Record(img);
        img.Write(0, new byte[Cluster]);
        img.Write(20000L * Cluster, new byte[Cluster]);
        img.Flush();
        var writes = journal.Where(s => s.Op == AddCowHostOp.BitmapWrite).Select(s => (s.Offset, s.Length)).ToArray();
        Assert.Equal([(0L, 512L), (2048L, 512L)], writes);
    }
}
