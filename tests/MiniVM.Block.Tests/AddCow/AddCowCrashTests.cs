using System.Diagnostics;
using System.Globalization;
using MiniVM.Block.CrashWriter;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>
/// The iROW crash test run against add-cow: the CrashWriter child (which opens the image by probing, so it needs no
/// format argument) is SIGKILLed at random points. Afterwards check finds nothing wrong, and every byte a completed
/// flush covered is still there; bytes of later writes read as either the durable value or some later write, never
/// as raw's zeroes where the backing showed (add-cow.md §3.5).
/// </summary>
[Trait("Category", "Crash")]
public sealed class AddCowCrashTests
{
    private const long DiskSize = 8L << 20;

    [Theory]
    [InlineData(20, 21)]
    public void SigkillKeepsFlushedWritesAndNeverExposesRawInPlaceOfTheBacking(int rounds, int seed0)
    {
        using var dir = new TempDir();
        var backing = AddCowFixture.CreateBacking(dir, "base.img", "raw", DiskSize, seed0);
        AddCowFixture.Create(dir, 0).Dispose();
        string image = dir.File("d.add-cow");
        var shadow = (byte[])backing.Clone();
        string writer = Path.Combine(AppContext.BaseDirectory, "MiniVM.Block.CrashWriter.dll");
        Assert.True(File.Exists(writer), writer);
        var rng = new Random(seed0);
        var buffer = new byte[70_000];
        int flushedRounds = 0;
        for (int round = 0; round < rounds; round++)
        {
            int seed = rng.Next();
            const int MaxOps = 20_000;
            int lastFlushed = RunAndKill(writer, image, seed, MaxOps, rng.Next(5, 250));
            if (lastFlushed >= 0) flushedRounds++;
            var durable = (byte[])shadow.Clone();
            // For a byte written after the last flush: may it still be its durable value, or zero (a WriteZeroes)?
            var touched = new bool[DiskSize];
            var zeroed = new bool[DiskSize];
            var laterWrites = new List<CrashOp>();
            int later = 0;
            foreach (var op in CrashWorkload.Ops(seed, DiskSize, MaxOps))
            {
                if (op.Index <= lastFlushed)
                {
                    if (op.Kind == CrashOpKind.Write)
                    {
                        CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                        buffer.AsSpan(0, op.Length).CopyTo(durable.AsSpan((int)op.Offset));
                    }
                    else if (op.Kind == CrashOpKind.Zero) durable.AsSpan((int)op.Offset, op.Length).Clear();
                    continue;
                }
                if (op.Kind == CrashOpKind.Write) { Array.Fill(touched, true, (int)op.Offset, op.Length); laterWrites.Add(op); }
                if (op.Kind == CrashOpKind.Zero) { Array.Fill(touched, true, (int)op.Offset, op.Length); Array.Fill(zeroed, true, (int)op.Offset, op.Length); }
                if (++later > 4000) break;
            }
            byte[] actual;
            using (var img = AddCowFixture.Open(image))
            {
                var check = img.Check();
                Assert.True(check.Corruptions == 0, $"round {round} (seed {seed}): {string.Join("; ", check.Messages)}");
                actual = AddCowFixture.ReadAll(img);
            }
            var explained = new bool[DiskSize];
            foreach (var op in laterWrites)
            {
                CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                for (int j = 0; j < op.Length; j++)
                    if (buffer[j] == actual[op.Offset + j]) explained[op.Offset + j] = true;
            }
            for (long i = 0; i < DiskSize; i++)
            {
                if (actual[i] == durable[i]) continue;
                if (!touched[i])
                    Assert.Fail($"round {round} (seed {seed}, flushed through op {lastFlushed}): byte {i} is {actual[i]:x2}, a completed flush made it {durable[i]:x2}");
                if ((zeroed[i] && actual[i] == 0) || explained[i]) continue;
                Assert.Fail($"round {round} (seed {seed}): byte {i} is {actual[i]:x2}, neither durable ({durable[i]:x2}) nor written later");
            }
            shadow = actual;
        }
        Assert.True(flushedRounds > rounds / 2, $"only {flushedRounds} of {rounds} rounds completed a flush before the kill");
    }

    /// <summary>Starts the writer, SIGKILLs it a while after READY, returns the last op whose flush completed (-1: none).</summary>
    private static int RunAndKill(string writer, string image, int seed, int maxOps, int killAfterMs)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
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
        string err = p.StandardError.ReadToEnd();
        Assert.True(err.Length == 0, $"writer failed (seed {seed}): {err}");
        return last;
    }
}
