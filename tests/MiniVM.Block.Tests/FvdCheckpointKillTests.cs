using System.Diagnostics;
using System.Globalization;

namespace MiniVM.Block.Tests;

/// <summary>
/// FVD without a journal makes every metadata change a checkpoint: the table page and the bitmap page are two
/// pwrites. The no-flush writer is killed by strace at every one of its first pwrites (before the call runs), so
/// each gap between the two is hit, which a timer kill (WriteThroughCrashTests) finds only by luck: a bit written
/// before its chunk's table entry read zeroes over the base bytes a partial-block write had copied up.
/// </summary>
public class FvdCheckpointKillTests
{
    private const long DiskSize = 8L << 20;
    private const int Ops = 24;

    [Fact]
    [Trait("Category", "Crash")]
    public void Fvd_without_journal_killed_at_every_pwrite_keeps_every_completed_write()
    {
        using var dir = new TempDir();
        string image = dir.File("crash.fvd"), pristine = dir.File("pristine.fvd");
        var baseBytes = new byte[DiskSize / 2];
        new Random(7).NextBytes(baseBytes);
        File.WriteAllBytes(dir.File("base.raw"), baseBytes);
        var o = ImageCreateOptions.Parse("compact_image=on,chunk_size=64K,block_size=4K,journal_size=-1,storage_grow_unit=1M");
        o.BackingFile = "base.raw";
        o.BackingFormat = "raw";
        ImageFormats.Default.Create("fvd", pristine, DiskSize, o).Dispose();
        var shadow = new byte[DiskSize];
        baseBytes.CopyTo(shadow, 0);
        const int seed = 2111047254;
        var buffer = new byte[70_000];
        int killed = 0;
        for (int n = 1; ; n++)
        {
            File.Copy(pristine, image, overwrite: true);
            var (last, wasKilled) = RunKilledAtPwrite(image, seed, n);
            if (!wasKilled) break;
            killed++;
            var replay = CrashRounds.Replay(shadow, seed, last, withSnapshots: false, buffer, laterOps: 3);
            using var img = ImageFormats.Default.Open(image);
            var check = ((IImageCheck)img).Check();
            Assert.True(check.Corruptions == 0, $"pwrite {n}: {string.Join("; ", check.Messages)}");
            var actual = new byte[DiskSize];
            img.Read(0, actual);
            CrashRounds.AssertDurable(actual, replay, n, seed, last);
        }
        Assert.True(killed > 2 * Ops, $"only {killed} pwrite kill points in {Ops} ops");
    }

    /// <summary>Runs the no-flush writer for <see cref="Ops"/> ops with a SIGKILL at its <paramref name="n"/>-th pwrite64.</summary>
    private static (int LastCompleted, bool Killed) RunKilledAtPwrite(string image, int seed, int n)
    {
        var psi = new ProcessStartInfo("strace") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-f", "-o", "/dev/null", "-e", "trace=pwrite64", "-e", $"inject=pwrite64:signal=KILL:when={n}",
                     "dotnet", CrashRounds.WriterPath(), image, seed.ToString(CultureInfo.InvariantCulture),
                     Ops.ToString(CultureInfo.InvariantCulture), "noflush" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        int last = -1;
        bool done = false;
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith("COMPLETED ", StringComparison.Ordinal)) last = int.Parse(line.AsSpan(10), CultureInfo.InvariantCulture);
            else if (line == "DONE") done = true;
        }
        p.WaitForExit();
        _ = err.Result;
        return (last, !done);
    }
}
