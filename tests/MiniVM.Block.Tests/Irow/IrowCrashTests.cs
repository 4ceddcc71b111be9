using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

/// <summary>
/// Kills a writer process with SIGKILL at random points and shows that the image opens, checks clean, and holds
/// every byte that a completed flush covered (irow.md §9 W1-W3). Bytes touched after the last completed flush may
/// hold either their durable value or a value a later write gave them, nothing else.
/// </summary>
public class IrowCrashTests
{
    private const long DiskSize = 32L << 20; // 512 B clusters: a two-page bitmap

    [Fact]
    [Trait("Category", "Crash")]
    public void Sigkill_at_random_points_keeps_flushed_writes_and_a_clean_image() =>
        RunRounds(rounds: 50, withSnapshots: false, seed0: 2024);

    /// <summary>
    /// The writer also creates snapshots and deletes old ones (merge-down) between writes. Snapshot operations never
    /// change the disk content, so the same durability rule holds; an interrupted create or delete may leave state
    /// files behind, which check must call leaks (never corruption) and repair to a clean image.
    /// </summary>
    [Fact]
    [Trait("Category", "Crash")]
    public void Sigkill_during_snapshot_create_and_merge_down_delete_leaves_no_corruption() =>
        RunRounds(rounds: 12, withSnapshots: true, seed0: 77);

    private static void RunRounds(int rounds, bool withSnapshots, int seed0)
    {
        using var dir = new TempDir();
        string image = dir.File("crash.irow");
        var shadow = new byte[DiskSize];
        using (var img = IrowImage.Create(image, DiskSize, new IrowCreateParameters(ClusterBits: 9), new ImageOpenContext()))
        {
            // A father layer under the current state, so partial writes copy up.
            var seedData = new byte[DiskSize / 2];
            new Random(99).NextBytes(seedData);
            img.Write(0, seedData);
            seedData.CopyTo(shadow, 0);
            img.CreateSnapshot("base");
        }
        string writer = CrashRounds.WriterPath();
        var rng = new Random(seed0);
        var buffer = new byte[70_000];
        int totalFlushed = 0;
        for (int round = 0; round < rounds; round++)
        {
            int seed = rng.Next();
            int lastFlushed = CrashRounds.RunAndKill(writer, image, seed, killAfterMs: withSnapshots ? rng.Next(20, 400) : rng.Next(5, 120), withSnapshots, stderrMustBeEmpty: false);
            totalFlushed += lastFlushed >= 0 ? 1 : 0;

            // Replay: durable = shadow after every op up to the last completed flush; later ops mark bytes that may differ.
            var replay = CrashRounds.Replay(shadow, seed, lastFlushed, withSnapshots, buffer);

            using var img = (IrowImage)ImageFormats.Default.Open(image);
            var check = img.Check();
            Assert.True(check.Corruptions == 0, $"round {round}: {string.Join("; ", check.Messages)}");
            if (withSnapshots && check.Leaks > 0)
            {
                Assert.Equal(check.Leaks, img.Check(RepairMode.Leaks).LeaksFixed);
                check = img.Check();
            }
            Assert.True(check.IsClean, $"round {round}: {string.Join("; ", check.Messages)}");
            var actual = new byte[DiskSize];
            img.Read(0, actual);
            CrashRounds.AssertDurable(actual, replay, round, seed, lastFlushed);
            shadow = actual;
        }
        Assert.True(totalFlushed > rounds / 2, $"only {totalFlushed} rounds got a flush done before the kill");
    }
}
