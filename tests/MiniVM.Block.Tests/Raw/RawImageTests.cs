using MiniVM.Block.Raw;

namespace MiniVM.Block.Tests.Raw;

public class RawImageTests
{
    [Fact]
    public void Create_write_reopen_reads_same_bytes_and_size()
    {
        using var dir = new TempDir();
        string path = dir.File("disk.raw");
        using (var img = ImageFormats.Default.Create("raw", path, 1 << 20, new ImageCreateOptions()))
        {
            img.Write(4096, "hello"u8);
            img.Flush();
        }
        Assert.Equal(1 << 20, new FileInfo(path).Length);
        using var again = ImageFormats.Default.Open(path);
        Assert.Equal("raw", again.FormatName);
        var buf = new byte[8];
        again.Read(4094, buf);
        Assert.Equal(new byte[] { 0, 0, (byte)'h', (byte)'e', (byte)'l', (byte)'l', (byte)'o', 0 }, buf);
    }

    [Fact]
    public void Block_status_reports_hole_then_data()
    {
        using var dir = new TempDir();
        string path = dir.File("disk.raw");
        using var img = ImageFormats.Default.Create("raw", path, 4 << 20, new ImageCreateOptions());
        var seven = new byte[4096];
        Array.Fill(seven, (byte)7);
        img.Write(2 << 20, seven);
        var first = img.GetBlockStatus(0, img.Size);
        Assert.Equal(0, first.Offset);
        Assert.Equal(ExtentKind.Zero, first.Kind);
        Assert.Equal(2 << 20, first.Length);
        var second = img.GetBlockStatus(2 << 20, img.Size - (2 << 20));
        Assert.Equal(ExtentKind.Data, second.Kind);
    }

    [Fact]
    public void Write_zeroes_reads_back_zeroes_and_shrinks_usage()
    {
        using var dir = new TempDir();
        string path = dir.File("disk.raw");
        using var img = (RawImage)ImageFormats.Default.Create("raw", path, 4 << 20, new ImageCreateOptions());
        var data = new byte[1 << 20];
        Array.Fill(data, (byte)0xAB);
        img.Write(0, data);
        img.Flush();
        long before = img.DiskUsage;
        img.WriteZeroes(0, 1 << 20);
        var back = new byte[1 << 20];
        img.Read(0, back);
        Assert.All(back, b => Assert.Equal(0, b));
        Assert.True(img.DiskUsage < before, $"usage {img.DiskUsage} not below {before}");
    }

    [Fact]
    public void Out_of_range_read_is_an_image_format_error()
    {
        using var dir = new TempDir();
        using var img = ImageFormats.Default.Create("raw", dir.File("d.raw"), 1024, new ImageCreateOptions());
        var e = Assert.Throws<ImageFormatException>(() => img.Read(1000, new byte[100]));
        Assert.Contains("outside the disk", e.Message);
    }
}
