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
        string writer = CrashRounds.WriterPath();
        var rng = new Random(seed0);
        var buffer = new byte[70_000];
        int flushedRounds = 0;
        for (int round = 0; round < rounds; round++)
        {
            int seed = rng.Next();
            int lastFlushed = CrashRounds.RunAndKill(writer, image, seed, rng.Next(5, 250), withSnapshots: false, stderrMustBeEmpty: true);
            if (lastFlushed >= 0) flushedRounds++;
            var replay = CrashRounds.Replay(shadow, seed, lastFlushed, withSnapshots: false, buffer);
            var durable = replay.Durable;
            byte[] actual;
            using (var img = AddCowFixture.Open(image))
            {
                var check = img.Check();
                Assert.True(check.Corruptions == 0, $"round {round} (seed {seed}): {string.Join("; ", check.Messages)}");
                actual = AddCowFixture.ReadAll(img);
            }
            // A byte written after the last flush may read as its durable value, zero (a WriteZeroes) or a later write's byte.
            var zeroed = new bool[DiskSize];
            var explained = new bool[DiskSize];
            foreach (var op in replay.LaterChanges)
            {
                if (op.Kind == CrashOpKind.Zero) { Array.Fill(zeroed, true, (int)op.Offset, op.Length); continue; }
                CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                for (int j = 0; j < op.Length; j++)
                    if (buffer[j] == actual[op.Offset + j]) explained[op.Offset + j] = true;
            }
            for (long i = 0; i < DiskSize; i++)
            {
                if (actual[i] == durable[i]) continue;
                if (!replay.MayDiffer[i])
                    Assert.Fail($"round {round} (seed {seed}, flushed through op {lastFlushed}): byte {i} is {actual[i]:x2}, a completed flush made it {durable[i]:x2}");
                if ((zeroed[i] && actual[i] == 0) || explained[i]) continue;
                Assert.Fail($"round {round} (seed {seed}): byte {i} is {actual[i]:x2}, neither durable ({durable[i]:x2}) nor written later");
            }
            shadow = actual;
        }
        Assert.True(flushedRounds > rounds / 2, $"only {flushedRounds} of {rounds} rounds completed a flush before the kill");
    }
}
