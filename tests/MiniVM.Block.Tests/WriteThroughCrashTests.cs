namespace MiniVM.Block.Tests;

/// <summary>
/// Issue 11 item 1: a guest that never flushes (DOS) must not lose a completed write when the emulator is killed. The
/// CrashWriter child runs the workload without a single flush and prints each op as it returns; after SIGKILL the
/// image must open, check without corruption, and hold every op that returned — only the op in flight may be
/// half-done (docs/durability.md). Every format over a base with data, so partial writes copy older bytes up.
/// </summary>
public class WriteThroughCrashTests
{
    private const long DiskSize = 8L << 20;

    /// <summary>Ops after the last printed one that can have started: the one in flight (flush ops count too).</summary>
    private const int InFlightOps = 3;

    [Theory]
    [Trait("Category", "Crash")]
    [InlineData("irow", "cluster_size=512", 6)]
    [InlineData("irow", "", 6)]
    [InlineData("qcow2", "cluster_size=4K", 6)]
    [InlineData("qcow2", "", 6)]
    [InlineData("add-cow", "", 4)]
    [InlineData("fvd", "compact_image=on,chunk_size=64K,block_size=4K,journal_size=64K,storage_grow_unit=1M", 4)]
    [InlineData("fvd", "compact_image=on,chunk_size=64K,block_size=4K,journal_size=-1,storage_grow_unit=1M", 4)]
    [InlineData("raw", "", 3)]
    public void Sigkill_without_any_flush_keeps_every_completed_write(string format, string options, int rounds)
    {
        int rounds2 = CrashCampaign.Scale(rounds);
        using var dir = new TempDir();
        string image = dir.File("crash." + format);
        var shadow = new byte[DiskSize];
        var baseBytes = new byte[DiskSize / 2];
        new Random(format.Length * 31 + options.Length).NextBytes(baseBytes);
        var o = ImageCreateOptions.Parse(options.Length == 0 ? null : options);
        if (format is "add-cow" or "fvd")
        {
            File.WriteAllBytes(dir.File("base.raw"), baseBytes);
            o.BackingFile = "base.raw";
            o.BackingFormat = "raw";
            if (format == "add-cow") o.Values["image_file"] = "crash.data";
            ImageFormats.Default.Create(format, image, DiskSize, o).Dispose();
        }
        else
        {
            using var img = ImageFormats.Default.Create(format, image, DiskSize, o);
            img.Write(0, baseBytes);
            if (img is ISnapshotStore snapshots) snapshots.CreateSnapshot("base"); // older data under the current state
        }
        baseBytes.CopyTo(shadow, 0);

        string writer = CrashRounds.WriterPath();
        var rng = new Random(format.GetHashCode(StringComparison.Ordinal) ^ options.Length);
        var buffer = new byte[70_000];
        int completedOps = 0;
        for (int round = 0; round < rounds2; round++)
        {
            int seed = rng.Next();
            int lastCompleted = CrashRounds.RunAndKill(writer, image, seed, killAfterMs: rng.Next(20, 300), "noflush", stderrMustBeEmpty: false);
            completedOps += lastCompleted + 1;
            var replay = CrashRounds.Replay(shadow, seed, lastCompleted, withSnapshots: false, buffer, InFlightOps);

            using var img = ImageFormats.Default.Open(image);
            if (img is IImageCheck checkable)
            {
                var check = checkable.Check();
                Assert.True(check.Corruptions == 0, $"{format} round {round}: {string.Join("; ", check.Messages)}");
            }
            var actual = new byte[DiskSize];
            img.Read(0, actual);
            CrashRounds.AssertDurable(actual, replay, round, seed, lastCompleted);
            shadow = actual;
        }
        Assert.True(completedOps > rounds2, $"{format}: only {completedOps} ops completed before the kills");
    }
}

/// <summary>
/// How big a crash campaign is: CI runs the sizes written in the tests; MINIVM_CRASH_CAMPAIGN=N multiplies the rounds
/// (and, for the syscall-kill harness, walks every kill point instead of a sample) for a longer local run.
/// </summary>
internal static class CrashCampaign
{
    public static int Factor
    {
        get
        {
            string? v = Environment.GetEnvironmentVariable("MINIVM_CRASH_CAMPAIGN");
            return int.TryParse(v, out int n) && n > 1 ? n : 1;
        }
    }

    public static bool Full => Factor > 1;

    public static int Scale(int rounds) => rounds * Factor;
}
