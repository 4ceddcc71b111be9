using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

/// <summary>
/// Random sequences of writes, zeroes, snapshot create / revert / delete and reopen, checked against a model that
/// keeps every snapshot's content: merge-down, reclaim and owner-map rebuilds must never change what a state reads.
/// </summary>
public class IrowModelTests
{
    [Theory]
    [InlineData(1, 9, false)]
    [InlineData(2, 10, false)]
    [InlineData(3, 12, false)]
    [InlineData(4, 9, true)]
    [InlineData(5, 12, true)]
    public void Random_snapshot_operations_match_the_model(int seed, int clusterBits, bool backingAndCopyOnDemand)
    {
        using var dir = new TempDir();
        string path = dir.File("m.irow");
        const int Size = 96 * 1024 + 512; // not a cluster multiple
        var rng = new Random(seed);
        var current = new byte[Size];
        var snaps = new Dictionary<string, byte[]>();
        string? backing = null;
        if (backingAndCopyOnDemand)
        {
            // A backing file that ends inside a cluster, well before the end of the disk.
            var b = new byte[Size / 2 + 700];
            rng.NextBytes(b);
            File.WriteAllBytes(dir.File("base.raw"), b);
            b.CopyTo(current, 0);
            backing = "base.raw";
        }
        var img = IrowImage.Create(path, Size,
            new IrowCreateParameters(ClusterBits: clusterBits, CopyOnDemand: backingAndCopyOnDemand, BackingFile: backing), new ImageOpenContext());
        try
        {
            int next = 0;
            for (int step = 0; step < 250; step++)
            {
                int roll = rng.Next(100);
                string what;
                if (roll < 45)
                {
                    int off = rng.Next(Size), len = Math.Min(Size - off, rng.Next(1, 9000));
                    var d = new byte[len];
                    rng.NextBytes(d);
                    img.Write(off, d);
                    d.CopyTo(current, off);
                    what = $"write {off}+{len}";
                }
                else if (roll < 52)
                {
                    int off = rng.Next(Size), len = Math.Min(Size - off, rng.Next(1, 20000));
                    img.WriteZeroes(off, len);
                    Array.Clear(current, off, len);
                    what = $"zero {off}+{len}";
                }
                else if (roll < 67)
                {
                    string name = "s" + next++;
                    img.CreateSnapshot(name);
                    snaps[name] = (byte[])current.Clone();
                    what = "snapshot " + name;
                }
                else if (roll < 79 && snaps.Count > 0)
                {
                    string name = snaps.Keys.ElementAt(rng.Next(snaps.Count));
                    img.RevertToSnapshot(name);
                    current = (byte[])snaps[name].Clone();
                    what = "revert " + name;
                }
                else if (roll < 92 && snaps.Count > 0)
                {
                    string name = snaps.Keys.ElementAt(rng.Next(snaps.Count));
                    img.DeleteSnapshot(name);
                    snaps.Remove(name);
                    what = "delete " + name;
                }
                else
                {
                    img.Dispose();
                    img = (IrowImage)ImageFormats.Default.Open(path);
                    what = "reopen";
                }
                var actual = new byte[Size];
                img.Read(0, actual);
                int diff = actual.AsSpan().CommonPrefixLength(current);
                Assert.True(diff == Size, $"step {step} ({what}): first difference at byte {diff}");
                if (step % 25 == 0)
                {
                    var check = img.Check();
                    Assert.True(check.IsClean, $"step {step} ({what}): {string.Join("; ", check.Messages)}");
                }
            }
            Assert.Equal(snaps.Keys.OrderBy(k => k), img.ListSnapshots().Select(s => s.Name).OrderBy(k => k));
            // Every state the model still has is reachable with its exact content.
            foreach (var (name, content) in snaps)
            {
                img.RevertToSnapshot(name);
                var actual = new byte[Size];
                img.Read(0, actual);
                Assert.True(actual.AsSpan().SequenceEqual(content), $"snapshot {name} changed");
            }
            Assert.True(img.Check().IsClean);
            // Files on disk: the meta plus two per state record (and the backing file), nothing left behind.
            Assert.Equal(img.Files.Count + (backing is null ? 0 : 1), Directory.GetFiles(dir.Path).Length);
        }
        finally
        {
            img.Dispose();
        }
    }
}
