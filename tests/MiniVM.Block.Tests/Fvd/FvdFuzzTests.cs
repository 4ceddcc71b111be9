using System.Buffers.Binary;
using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// Bounded mutation fuzzing of the metadata (header, bitmap, table, journal) of images left clean and left by a crash
/// (so replay runs): open, read, block status, check, write, flush and close either work or throw
/// ImageFormatException — nothing else, no hang, and no run allocates more than a bounded amount.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class FvdFuzzTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("compact_image=on,chunk_size=4K,block_size=1K,journal_size=4K,storage_grow_unit=16K", true, 1)]
    [InlineData("block_size=512,journal_size=4K", true, 2)]
    [InlineData("compact_image=on,chunk_size=4K,journal_size=4K,storage_grow_unit=16K", false, 3)]
    public async Task MutatedImagesFailOnlyWithTheFormatError(string options, bool withBase, int seed)
    {
        const int Size = 96 * 1024;
        var o = ImageCreateOptions.Parse(options);
        if (withBase)
        {
            var b = new byte[Size - 5000];
            new Random(seed).NextBytes(b);
            File.WriteAllBytes(_dir.File("base.raw"), b);
            o.BackingFile = "base.raw";
        }
        string path = _dir.File("fuzz.fvd");
        byte[] pristine;
        long metadataEnd;
        using (var img = (FvdImage)ImageFormats.Default.Create("fvd", path, Size, o))
        {
            var d = new byte[30_000];
            new Random(seed).NextBytes(d);
            img.Write(1000, d);
            img.WriteZeroes(50_000, 7000);
            img.Write(80_000, d.AsSpan(0, 9000));
            img.Flush();
            // The image as a kill would leave it: unclean, with journal records to replay.
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            pristine = new byte[fs.Length];
            fs.ReadExactly(pristine);
            metadataEnd = img.Header.MetadataSize;
        }
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(pristine.AsSpan(4300)));
        var (runs, rejected) = await MutationFuzz.RunAsync(seed, defaultSeconds: 3, allocationCap: 64L << 20, rnd =>
        {
            var b = (byte[])pristine.Clone();
            for (int i = rnd.Next(1, 6); i > 0; i--)
            {
                // Mostly the header's numeric fields and the metadata regions; sometimes a whole 32- or 64-bit field.
                int at = rnd.Next(3) switch
                {
                    0 => rnd.Next(4336),
                    1 => rnd.Next(8192, (int)Math.Min(metadataEnd, b.Length)),
                    _ => rnd.Next(b.Length),
                };
                int width = rnd.Next(4) switch { 0 => 4, 1 => 8, _ => 1 };
                at = Math.Min(at, b.Length - width);
                if (width == 1) b[at] = rnd.Next(4) == 0 ? (byte)0xFF : (byte)rnd.Next(256);
                else if (width == 4) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), rnd.Next(3) == 0 ? uint.MaxValue : (uint)rnd.Next());
                else BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), rnd.NextInt64() >> rnd.Next(64));
            }
            if (rnd.Next(3) == 0) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4300), 1); // sometimes clean
            File.WriteAllBytes(path, b);
            // Every region is bounded by the file (about 100 KiB here), so a run has no reason to allocate much.
            return () => Exercise(path);
        });
        Assert.True(runs > 20, $"only {runs} runs");
        Assert.True(rejected > 0, "no mutation was ever rejected: the fuzzer is not reaching the parser");
        Assert.True(rejected < runs, "every mutation was rejected: the fuzzer never gets past the parser");
    }

    /// <summary>
    /// True when everything worked, false when the image was rejected with ImageFormatException. A mutated disk size
    /// may be huge, so reads cover at most 1 MiB of it.
    /// </summary>
    private static bool Exercise(string path)
    {
        try
        {
            using var img = (FvdImage)ImageFormats.Default.Open(path, "fvd");
            var buf = new byte[Math.Min(img.Size, 1 << 20)];
            img.Read(0, buf);
            img.Read(img.Size - buf.Length, buf);
            int extents = 0;
            for (long off = 0; off < img.Size && extents < 10_000; extents++) off += img.GetBlockStatus(off, img.Size).Length;
            img.Check();
            img.Write(img.Size / 3, new byte[5000]);
            img.WriteZeroes(img.Size / 2, 3000);
            img.Flush();
            img.Check(RepairMode.All);
            return true;
        }
        catch (ImageFormatException)
        {
            return false;
        }
    }
}
