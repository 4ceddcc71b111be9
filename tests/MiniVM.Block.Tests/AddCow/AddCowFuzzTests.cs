namespace MiniVM.Block.Tests.AddCow;

/// <summary>
/// Bounded mutation fuzzing of the add-cow file (header and bitmap) and of the raw file's length: whatever the damage,
/// open, reads, block status, writes, write-zeroes, check and resize either work or throw ImageFormatException —
/// nothing else, no hang, and no allocation beyond the bitmap cap.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class AddCowFuzzTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MutatedImagesFailOnlyWithTheFormatError(int seed)
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 20 * Cluster + 512, seed);
        string path = _dir.File("d.add-cow");
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            var d = new byte[5 * Cluster];
            AddCowFixture.Fill(d, seed);
            img.Write(1000, d);
            img.Write(17L * Cluster, d.AsSpan(0, 3000));
        }
        var pristine = File.ReadAllBytes(path);
        long[] rawSizes = [0, 512, 1000, 3 * Cluster, 21 * Cluster, 21 * Cluster + 512, 64L * Cluster, 1L << 40, 3L << 40];
        var (runs, rejected) = await MutationFuzz.RunAsync(seed, defaultSeconds: 5, allocationCap: 64L << 20, rnd =>
        {
            var b = (byte[])pristine.Clone();
            int flips = rnd.Next(1, 8);
            for (int i = 0; i < flips; i++)
            {
                int at = rnd.Next(5) switch
                {
                    4 => 2560 + rnd.Next(b.Length - 2560),  // the bitmap
                    0 => rnd.Next(12),                       // magic, version
                    1 => 12 + rnd.Next(16),                  // start of backing_file
                    2 => 1036 + rnd.Next(16),                // start of image_file
                    _ => rnd.Next(b.Length),                 // anywhere, the bitmap included
                };
                b[at] = rnd.Next(4) == 0 ? (byte)0xFF : rnd.Next(4) == 0 ? (byte)0 : (byte)rnd.Next(256);
            }
            if (rnd.Next(8) == 0) b = b[..rnd.Next(b.Length)];
            else if (rnd.Next(8) == 0) b = [.. b, .. new byte[rnd.Next(1, 600)].Select(_ => (byte)rnd.Next(256))];
            File.WriteAllBytes(path, b);
            using (var raw = new FileStream(_dir.File("d.raw"), FileMode.OpenOrCreate))
                raw.SetLength(rnd.Next(3) == 0 ? rawSizes[rnd.Next(rawSizes.Length)] : 21 * Cluster);
            int exerciseSeed = rnd.Next();
            return () => Run(path, exerciseSeed);
        });
        Assert.True(runs > 20, $"only {runs} runs");
        Assert.True(rejected > 0 && rejected < runs, $"{rejected} of {runs} runs rejected: the mutations should sometimes pass");
    }

    /// <summary>Whether the image opened and every operation worked (false: refused with the format error).</summary>
    private static bool Run(string path, int seed)
    {
        var r = new Random(seed);
        try
        {
            using var img = AddCowFixture.Open(path, readOnly: r.Next(4) == 0);
            var buf = new byte[3 * Cluster];
            long size = img.Size;
            for (int i = 0; i < 6; i++)
            {
                int len = (int)Math.Min(size, r.Next(1, buf.Length));
                long off = r.NextInt64(size - len + 1);
                img.Read(off, buf.AsSpan(0, len));
                img.GetBlockStatus(off, len);
            }
            img.Check();
            if (!img.IsReadOnly)
            {
                img.Write(r.NextInt64(size), buf.AsSpan(0, 1));
                long zoff = r.NextInt64(size);
                img.WriteZeroes(zoff, Math.Min(size - zoff, r.Next(1, 2 * Cluster)));
                img.Flush();
                if (r.Next(3) == 0) img.Resize(Math.Max(512, size + 512L * r.Next(-300, 300)));
            }
            return true;
        }
        catch (ImageFormatException) { return false; }
    }
}
