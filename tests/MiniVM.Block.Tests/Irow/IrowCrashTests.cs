using System.Diagnostics;
using MiniVM.Block.CrashWriter;
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
        string writer = Path.Combine(AppContext.BaseDirectory, "MiniVM.Block.CrashWriter.dll");
        Assert.True(File.Exists(writer), writer);
        var rng = new Random(seed0);
        var buffer = new byte[70_000];
        int totalFlushed = 0;
        for (int round = 0; round < rounds; round++)
        {
            int seed = rng.Next();
            const int MaxOps = 20_000;
            int lastFlushed = RunAndKill(writer, image, seed, MaxOps, killAfterMs: withSnapshots ? rng.Next(20, 400) : rng.Next(5, 120), withSnapshots);
            totalFlushed += lastFlushed >= 0 ? 1 : 0;

            // Replay: durable = shadow after every op up to the last completed flush; later ops mark bytes that may differ.
            var durable = (byte[])shadow.Clone();
            var mayDiffer = new bool[DiskSize];
            var later = new List<CrashOp>();
            foreach (var op in CrashWorkload.Ops(seed, DiskSize, MaxOps, withSnapshots))
            {
                if (op.Index > lastFlushed) { later.Add(op); if (later.Count > 4000) break; continue; }
                Apply(op, durable, buffer);
            }
            foreach (var op in later)
                if (op.Kind is CrashOpKind.Write or CrashOpKind.Zero) Array.Fill(mayDiffer, true, (int)op.Offset, op.Length);

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
            for (int i = 0; i < DiskSize; i++)
            {
                i += actual.AsSpan(i).CommonPrefixLength(durable.AsSpan(i)); // vectorised skip over equal bytes
                if (i >= DiskSize || mayDiffer[i]) continue;
                Assert.Fail($"round {round} (seed {seed}, flushed through op {lastFlushed}): byte {i} is {actual[i]:x2}, a completed flush made it {durable[i]:x2}");
            }
            shadow = actual;
        }
        Assert.True(totalFlushed > rounds / 2, $"only {totalFlushed} rounds got a flush done before the kill");
    }

    private static void Apply(CrashOp op, byte[] disk, byte[] buffer)
    {
        switch (op.Kind)
        {
            case CrashOpKind.Write:
                CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                buffer.AsSpan(0, op.Length).CopyTo(disk.AsSpan((int)op.Offset));
                break;
            case CrashOpKind.Zero:
                disk.AsSpan((int)op.Offset, op.Length).Clear();
                break;
        }
    }

    /// <summary>Starts the writer, SIGKILLs it a while after READY, returns the last op index whose flush completed (-1 if none).</summary>
    private static int RunAndKill(string writer, string image, int seed, int maxOps, int killAfterMs, bool withSnapshots)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(writer);
        psi.ArgumentList.Add(image);
        psi.ArgumentList.Add(seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(maxOps.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (withSnapshots) psi.ArgumentList.Add("snapshots");
        using var p = Process.Start(psi)!;
        string? first = p.StandardOutput.ReadLine();
        if (first != "READY")
        {
            p.Kill();
            Assert.Fail($"writer did not start: {first} {p.StandardError.ReadToEnd()}");
        }
        Thread.Sleep(killAfterMs);
        try { p.Kill(); } catch (InvalidOperationException) { } // already exited
        p.WaitForExit();
        int last = -1;
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith("FLUSHED ", StringComparison.Ordinal)) last = int.Parse(line.AsSpan(8), System.Globalization.CultureInfo.InvariantCulture);
            else if (line == "DONE") last = maxOps;
        }
        return last;
    }
}
