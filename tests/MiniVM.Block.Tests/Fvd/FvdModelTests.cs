using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// Random reads, writes, write-zeroes, flushes and reopens against a shadow byte array, over base images of other
/// formats (raw and qcow2) whose length is shorter than the disk and not a multiple of 512 (fvd.md §5.5).
/// </summary>
public class FvdModelTests
{
    [Theory]
    [InlineData(1, "raw", "", false)]
    [InlineData(2, "raw", "block_size=4K", false)]
    [InlineData(3, "qcow2", "block_size=1536", false)]
    [InlineData(4, "raw", "compact_image=on,chunk_size=4K", false)]
    [InlineData(5, "qcow2", "compact_image=on,chunk_size=8K,block_size=2K,storage_grow_unit=16K", false)]
    [InlineData(6, "raw", "copy_on_read=on,block_size=2K", true)]
    [InlineData(7, "raw", "copy_on_read=on,compact_image=on,chunk_size=4K", true)]
    [InlineData(8, "raw", "journal_size=4K,compact_image=on,chunk_size=4K", false)]
    [InlineData(9, "none", "compact_image=on,chunk_size=4K", false)]
    [InlineData(10, "none", "", false)]
    [InlineData(11, "raw", "journal_size=-1,compact_image=on,chunk_size=4K", false)]
    [InlineData(12, "raw", "data_file=d.raw", false)]
    public void Random_io_matches_the_shadow(int seed, string baseFormat, string options, bool copyOnRead)
    {
        using var dir = new TempDir();
        const int Size = 300 * 1024;
        var rng = new Random(seed);
        var shadow = new byte[Size];
        var opts = ImageCreateOptions.Parse(options);
        if (baseFormat != "none")
        {
            var b = new byte[Size / 2 + 777]; // ends mid-sector, well before the end of the disk
            rng.NextBytes(b);
            string basePath = dir.File("base." + baseFormat);
            if (baseFormat == "raw") File.WriteAllBytes(basePath, b);
            else
            {
                using var q = ImageFormats.Default.Create("qcow2", basePath, b.Length + 512 - b.Length % 512, new ImageCreateOptions());
                q.Write(0, b);
            }
            b.CopyTo(shadow, 0);
            opts.BackingFile = Path.GetFileName(basePath);
            opts.BackingFormat = baseFormat;
        }
        string path = dir.File("m.fvd");
        var img = (FvdImage)ImageFormats.Default.Create("fvd", path, Size, opts);
        try
        {
            Assert.Equal(copyOnRead, img.CopyOnRead);
            for (int step = 0; step < 300; step++)
            {
                int roll = rng.Next(100);
                int off = rng.Next(Size), len = Math.Min(Size - off, rng.Next(1, 12000));
                string what = roll < 40 ? "write" : roll < 48 ? "zero" : roll < 80 ? "read" : "flush";
                if (roll < 40)
                {
                    var d = new byte[len];
                    rng.NextBytes(d);
                    img.Write(off, d);
                    d.CopyTo(shadow, off);
                }
                else if (roll < 48)
                {
                    img.WriteZeroes(off, len);
                    Array.Clear(shadow, off, len);
                }
                else if (roll < 80)
                {
                    var got = new byte[len];
                    img.Read(off, got);
                    Assert.True(got.AsSpan().SequenceEqual(shadow.AsSpan(off, len)), $"step {step}: read {off}+{len} differs");
                }
                else if (roll < 90) img.Flush();
                else
                {
                    what = "reopen";
                    img.Dispose();
                    img = (FvdImage)ImageFormats.Default.Open(path);
                }
                // FVD_DEBUG=1 compares the whole disk after every step, to name the first step that goes wrong.
                if (Environment.GetEnvironmentVariable("FVD_DEBUG") is not null)
                {
                    var dbg = new byte[Size];
                    img.Read(0, dbg);
                    int bad = dbg.AsSpan().CommonPrefixLength(shadow);
                    Assert.True(bad == Size, $"step {step} {what} {off}+{len}: first bad byte {bad}");
                }
            }
            var all = new byte[Size];
            img.Read(0, all);
            Assert.True(all.AsSpan().SequenceEqual(shadow), "whole disk differs");
            Assert.True(img.Check().IsClean);
            // Block status covers the disk in order, and data runs match what reads show.
            for (long o = 0; o < Size;)
            {
                var e = img.GetBlockStatus(o, Size);
                Assert.Equal(o, e.Offset);
                Assert.True(e.Length > 0);
                o += e.Length;
            }
        }
        finally { img.Dispose(); }
        using var again = ImageFormats.Default.Open(path, null, new ImageOpenContext { ReadOnly = true });
        var final = new byte[Size];
        again.Read(0, final);
        Assert.True(final.AsSpan().SequenceEqual(shadow), "after reopen read-only");
    }
}
