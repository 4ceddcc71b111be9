namespace MiniVM.Block.Tests.Qcow2;

/// <summary>
/// Bounded mutation fuzzing of the metadata clusters (qcow3.md §4.4.10): whatever the damage, open, read, block
/// status, check, snapshot access and a write either work or throw ImageFormatException — nothing else, no hang.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class Qcow2FuzzTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("compat=1.1,cluster_size=512", 1)]
    [InlineData("compat=0.10,cluster_size=4K", 2)]
    [InlineData("qemu-compressed", 3)]
    public async Task MutatedImagesFailOnlyWithTheFormatError(string options, int seed)
    {
        string path = _dir.File("fuzz.qcow2");
        if (options == "qemu-compressed")
        {
            // Compressed descriptors and qemu-img's own layout as the starting point.
            var raw = new byte[256 << 10];
            for (int i = 0; i < raw.Length; i++) raw[i] = (byte)(i % 251 < 100 ? i % 7 : 0);
            File.WriteAllBytes(_dir.File("src.raw"), raw);
            QemuTools.Img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4K", _dir.File("src.raw"), path);
        }
        else using (var q = Qcow2Fixture.Create(path, 256 << 10, options))
        {
            var d = new byte[100_000];
            Qcow2Fixture.Fill(d, seed);
            q.Write(1000, d);
            q.CreateSnapshot("a", 5, s => s.Write(d.AsSpan(0, 3000)));
            q.Write(150_000, d.AsSpan(0, 20_000));
            q.WriteZeroes(200_000, 8192);
            q.SetUserMetadata("key", "value"u8);
        }
        var pristine = File.ReadAllBytes(path);
        var (runs, rejected) = await MutationFuzz.RunAsync(seed, defaultSeconds: 4, allocationCap: null, rnd =>
        {
            var b = (byte[])pristine.Clone();
            int flips = rnd.Next(1, 8);
            for (int i = 0; i < flips; i++)
            {
                int at = rnd.Next(2) == 0 ? rnd.Next(Math.Min(b.Length, 256)) : rnd.Next(b.Length);
                b[at] = rnd.Next(4) == 0 ? (byte)0xFF : (byte)rnd.Next(256);
            }
            File.WriteAllBytes(path, b);
            return () => Exercise(path);
        });
        Assert.True(runs > 20, $"only {runs} runs");
        Assert.True(rejected > 0, "no mutation was ever rejected: the fuzzer is not reaching the parser");
    }

    /// <summary>True when everything worked, false when the image was rejected with ImageFormatException.</summary>
    private static bool Exercise(string path)
    {
        try
        {
            using var q = Qcow2Fixture.Open(path);
            var buf = new byte[q.Size];
            q.Read(0, buf);
            for (long off = 0; off < q.Size;) off += q.GetBlockStatus(off, q.Size).Length;
            q.Check();
            foreach (var s in q.ListSnapshots())
                if (s.VmStateSize > 0 && s.VmStateSize < 1 << 20)
                {
                    using var vs = q.OpenVmState(s.Id);
                    vs.ReadExactly(new byte[vs.Length]);
                }
            if (!q.IsReadOnly)
            {
                q.Write(q.Size / 3, new byte[5000]);
                q.Flush();
            }
            return true;
        }
        catch (ImageFormatException)
        {
            return false;
        }
    }
}
