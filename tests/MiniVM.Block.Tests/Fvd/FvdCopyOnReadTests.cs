using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// Copy-on-read (fvd.md §3.4 step 5): base blocks that are read are copied into the image, so later reads no longer
/// need the base. The copies are soft (fvd.md §3.3): kept on a clean close, not journaled; a guest write into a copied
/// block still journals its bit.
/// </summary>
public sealed class FvdCopyOnReadTests : IDisposable
{
    private const int Size = 64 * 1024;
    private readonly TempDir _dir = new();
    private readonly byte[] _base = new byte[Size];

    public FvdCopyOnReadTests() => new Random(5).NextBytes(_base);

    public void Dispose() => _dir.Dispose();

    private FvdImage Create(string options)
    {
        File.WriteAllBytes(_dir.File("base.raw"), _base);
        var o = ImageCreateOptions.Parse(options);
        o.BackingFile = "base.raw";
        return (FvdImage)ImageFormats.Default.Create("fvd", _dir.File("r.fvd"), Size, o);
    }

    [Theory]
    [InlineData("copy_on_read=on,block_size=4K")]
    [InlineData("copy_on_read=on,block_size=4K,compact_image=on,chunk_size=8K,storage_grow_unit=8K")]
    public void Blocks_read_once_no_longer_need_the_base(string options)
    {
        using (var img = Create(options))
        {
            Assert.Equal(ExtentKind.Unallocated, img.GetBlockStatus(4096, Size).Kind);
            var got = new byte[4000];
            img.Read(5000, got); // blocks 1 and 2
            Assert.Equal(_base.AsSpan(5000, 4000).ToArray(), got);
            var copied = img.GetBlockStatus(4096, Size);
            Assert.Equal(ExtentKind.Data, copied.Kind);
            Assert.Equal(new Extent(4096, 8192, ExtentKind.Data, copied.File, copied.HostOffset), copied);
            Assert.Equal(new Extent(0, 4096, ExtentKind.Unallocated), img.GetBlockStatus(0, Size));
        }
        File.WriteAllBytes(_dir.File("base.raw"), new byte[Size]); // the base changes underneath
        using var again = ImageFormats.Default.Open(_dir.File("r.fvd"), null, new ImageOpenContext { ReadOnly = true });
        var all = new byte[Size];
        again.Read(0, all);
        Assert.Equal(_base.AsSpan(4096, 8192).ToArray(), all.AsSpan(4096, 8192).ToArray());
        Assert.All(all.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.All(all.AsSpan(12288).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Off_means_reads_leave_the_image_untouched()
    {
        using var img = Create("block_size=4K");
        Assert.False(img.CopyOnRead);
        img.Read(0, new byte[Size]);
        Assert.Equal(new Extent(0, Size, ExtentKind.Unallocated), img.GetBlockStatus(0, Size));
    }

    [Fact]
    public void A_guest_write_into_a_copied_block_is_journaled_even_though_its_fresh_bit_is_set()
    {
        string crashed;
        using (var img = Create("copy_on_read=on,block_size=4K"))
        {
            img.Read(4096, new byte[4096]); // block 1 copied up: fresh bit set, not journaled
            img.Write(4196, new byte[] { 1, 2, 3 });
            img.Flush();
            string to = Path.Combine(_dir.Path, "crash");
            Directory.CreateDirectory(to);
            foreach (var name in new[] { "r.fvd" })
                using (var src = new FileStream(_dir.File(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
                using (var dst = File.Create(Path.Combine(to, name)))
                    src.CopyTo(dst);
            File.WriteAllBytes(Path.Combine(to, "base.raw"), new byte[Size]); // a base that no longer has the data
            crashed = Path.Combine(to, "r.fvd");
        }
        using var reopened = ImageFormats.Default.Open(crashed);
        var block = new byte[4096];
        reopened.Read(4096, block);
        var expected = _base.AsSpan(4096, 4096).ToArray();
        expected[100] = 1; expected[101] = 2; expected[102] = 3;
        Assert.Equal(expected, block);
    }
}
