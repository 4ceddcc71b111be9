using System.Diagnostics;
using System.Globalization;
using MiniVM.Block.CrashWriter;
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

        string writer = Path.Combine(AppContext.BaseDirectory, "MiniVM.Block.CrashWriter.dll");
        Assert.True(File.Exists(writer), writer);
        var rng = new Random(seed0);
        var buffer = new byte[70_000];
        int flushedRounds = 0, replayedRounds = 0;
        for (int round = 0; round < rounds; round++)
        {
            int seed = rng.Next();
            const int MaxOps = 20_000;
            int lastFlushed = RunAndKill(writer, image, seed, MaxOps, killAfterMs: rng.Next(5, 150));
            if (lastFlushed >= 0) flushedRounds++;

            var durable = (byte[])shadow.Clone();
            var mayDiffer = new bool[DiskSize];
            int later = 0;
            foreach (var op in CrashWorkload.Ops(seed, DiskSize, MaxOps))
            {
                if (op.Index > lastFlushed)
                {
                    if (op.Kind is CrashOpKind.Write or CrashOpKind.Zero) Array.Fill(mayDiffer, true, (int)op.Offset, op.Length);
                    if (++later > 4000) break;
                    continue;
                }
                if (op.Kind == CrashOpKind.Write)
                {
                    CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                    buffer.AsSpan(0, op.Length).CopyTo(durable.AsSpan((int)op.Offset));
                }
                else if (op.Kind == CrashOpKind.Zero) durable.AsSpan((int)op.Offset, op.Length).Clear();
            }

            using var img = (FvdImage)ImageFormats.Default.Open(image);
            if (img.ReplayedSectors > 0) replayedRounds++;
            var check = img.Check();
            Assert.True(check.Corruptions == 0, $"round {round}: {string.Join("; ", check.Messages)}");
            var actual = new byte[DiskSize];
            img.Read(0, actual);
            for (int i = 0; i < DiskSize; i++)
            {
                i += actual.AsSpan(i).CommonPrefixLength(durable.AsSpan(i));
                if (i >= DiskSize || mayDiffer[i]) continue;
                Assert.Fail($"round {round} (seed {seed}, flushed through op {lastFlushed}): byte {i} is {actual[i]:x2}, a completed flush made it {durable[i]:x2}");
            }
            shadow = actual;
        }
        Assert.True(flushedRounds > rounds / 2, $"only {flushedRounds} rounds got a flush done before the kill");
        if (!options.Contains("journal_size=-1"))
            Assert.True(replayedRounds > 0, "no round left a journal to replay");
    }

    /// <summary>Starts the writer, SIGKILLs it a while after READY, returns the last op index whose flush completed (-1 if none).</summary>
    private static int RunAndKill(string writer, string image, int seed, int maxOps, int killAfterMs)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(writer);
        psi.ArgumentList.Add(image);
        psi.ArgumentList.Add(seed.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(maxOps.ToString(CultureInfo.InvariantCulture));
        using var p = Process.Start(psi)!;
        string? first = p.StandardOutput.ReadLine();
        if (first != "READY")
        {
            p.Kill();
            Assert.Fail($"writer did not start: {first} {p.StandardError.ReadToEnd()}");
        }
        Thread.Sleep(killAfterMs);
        try { p.Kill(); } catch (InvalidOperationException) { }
        p.WaitForExit();
        int last = -1;
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith("FLUSHED ", StringComparison.Ordinal)) last = int.Parse(line.AsSpan(8), CultureInfo.InvariantCulture);
            else if (line == "DONE") last = maxOps;
        }
        return last;
    }
}
