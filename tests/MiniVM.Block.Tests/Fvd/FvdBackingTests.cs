using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>The base image as an IBackingImage: names as stored, opening without it, and a base that is gone.</summary>
public sealed class FvdBackingTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string CreateOverQcow2()
    {
        using (var q = ImageFormats.Default.Create("qcow2", _dir.File("b.qcow2"), 8192, new ImageCreateOptions()))
            q.Write(0, Enumerable.Repeat((byte)0xAB, 8192).ToArray());
        var o = ImageCreateOptions.Parse("block_size=4K");
        o.BackingFile = "b.qcow2";
        o.BackingFormat = "qcow2";
        using (var img = ImageFormats.Default.Create("fvd", _dir.File("o.fvd"), 16384, o))
            img.Write(4096, new byte[] { 1 });
        return _dir.File("o.fvd");
    }

    [Fact]
    public void The_stored_base_name_and_format_are_reported_and_used()
    {
        using var img = (FvdImage)ImageFormats.Default.Open(CreateOverQcow2());
        Assert.Equal("b.qcow2", img.BackingFileName);
        Assert.Equal("qcow2", img.BackingFormat);
        Assert.Equal("qcow2", img.Backing!.FormatName);
        var got = new byte[16384];
        img.Read(0, got);
        Assert.All(got.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0xAB, b));
        Assert.Equal(1, got[4096]);
        Assert.All(got.AsSpan(4097, 4095).ToArray(), b => Assert.Equal(0xAB, b)); // copy-on-write kept the rest of the block
        Assert.All(got.AsSpan(8192).ToArray(), b => Assert.Equal(0, b)); // past the base
    }

    [Fact]
    public void Without_its_base_the_image_reads_base_blocks_as_zeroes_and_refuses_writes()
    {
        using var img = (FvdImage)ImageFormats.Default.Open(CreateOverQcow2(), null, new ImageOpenContext { NoBacking = true });
        Assert.Null(img.Backing);
        var got = new byte[8192];
        img.Read(0, got);
        Assert.All(got.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(1, got[4096]);
        var e = Assert.Throws<ImageFormatException>(() => img.Write(0, new byte[1]));
        Assert.Contains("without its base image", e.Message);
    }

    [Fact]
    public void A_missing_base_is_one_clear_error()
    {
        string path = CreateOverQcow2();
        File.Delete(_dir.File("b.qcow2"));
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Open(path).Dispose());
        Assert.Contains("b.qcow2", e.Message);
    }

    [Fact]
    public void Create_rejects_a_base_outside_the_image_directory_and_opens_the_named_base_not_the_data_file()
    {
        var o = new ImageCreateOptions { BackingFile = "../elsewhere.raw" };
        Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Create("fvd", _dir.File("x.fvd"), 4096, o));
        // With backing_fmt and data_file both given, the base named is the one opened (fvd.md §5.4 item 1).
        File.WriteAllBytes(_dir.File("base.raw"), Enumerable.Repeat((byte)7, 4096).ToArray());
        var o2 = ImageCreateOptions.Parse("data_file=d.raw");
        o2.BackingFile = "base.raw";
        o2.BackingFormat = "raw";
        using var img = (FvdImage)ImageFormats.Default.Create("fvd", _dir.File("y.fvd"), 4096, o2);
        Assert.Equal(4096, img.Header.BaseImageSize);
        Assert.Equal(new[] { _dir.File("y.fvd"), _dir.File("d.raw") }, img.Files);
        var got = new byte[4096];
        img.Read(0, got);
        Assert.All(got, b => Assert.Equal(7, b));
    }
}
