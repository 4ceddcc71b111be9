using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// The iROW crash test against FVD: the CrashWriter child runs the workload on an FVD image over a base image and is
/// SIGKILLed at random points. Reopening replays the journal; the image must check clean and hold every byte a
/// completed flush covered. Bytes touched after the last completed flush may hold their durable value or a value a
/// later write gave them, nothing else.
/// </summary>
public class FvdCrashTests
{
    private const long DiskSize = 8L << 20;

    [Theory]
    [Trait("Category", "Crash")]
    [InlineData("compact_image=on,chunk_size=64K,block_size=4K,journal_size=64K,storage_grow_unit=1M", 25, 11)]
    [InlineData("block_size=512,journal_size=8K", 20, 12)]
    [InlineData("compact_image=on,chunk_size=4K,journal_size=-1,storage_grow_unit=256K", 15, 13)]
    public void Sigkill_at_random_points_keeps_flushed_writes_and_a_clean_image(string options, int rounds, int seed0)
    {
        using var dir = new TempDir();
        string image = dir.File("crash.fvd");
        var shadow = new byte[DiskSize];
        var baseBytes = new byte[DiskSize / 2 + 300]; // ends mid-sector, halfway through the disk
        new Random(seed0).NextBytes(baseBytes);
        File.WriteAllBytes(dir.File("base.raw"), baseBytes);
        baseBytes.CopyTo(shadow, 0);
        var o = ImageCreateOptions.Parse(options);
        o.BackingFile = "base.raw";
        ImageFormats.Default.Create("fvd", image, DiskSize, o).Dispose();

        string writer = CrashRounds.WriterPath();
        var rng = new Random(seed0);
        var buffer = new byte[70_000];
        int flushedRounds = 0, replayedRounds = 0;
        for (int round = 0; round < rounds; round++)
        {
            int seed = rng.Next();
            int lastFlushed = CrashRounds.RunAndKill(writer, image, seed, killAfterMs: rng.Next(5, 150), withSnapshots: false, stderrMustBeEmpty: false);
            if (lastFlushed >= 0) flushedRounds++;

            var replay = CrashRounds.Replay(shadow, seed, lastFlushed, withSnapshots: false, buffer);

            using var img = (FvdImage)ImageFormats.Default.Open(image);
            if (img.ReplayedSectors > 0) replayedRounds++;
            var check = img.Check();
            Assert.True(check.Corruptions == 0, $"round {round}: {string.Join("; ", check.Messages)}");
            var actual = new byte[DiskSize];
            img.Read(0, actual);
            CrashRounds.AssertDurable(actual, replay, round, seed, lastFlushed);
            shadow = actual;
        }
        Assert.True(flushedRounds > rounds / 2, $"only {flushedRounds} rounds got a flush done before the kill");
        if (!options.Contains("journal_size=-1"))
            Assert.True(replayedRounds > 0, "no round left a journal to replay");
    }
}
