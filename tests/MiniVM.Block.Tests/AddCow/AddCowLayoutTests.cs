using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>The v8 layout (add-cow.md §2): header golden bytes, LSB-first bit order, file lengths.</summary>
public sealed class AddCowLayoutTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void CreateWritesTheHeaderByteForByteAsTheSpecDrawsIt()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 1);
        AddCowFixture.Create(_dir, 0).Dispose();
        var file = File.ReadAllBytes(_dir.File("d.add-cow"));
        var expected = AddCowFixture.HeaderBytes("base.img", "d.raw");
        Assert.Equal(2560 + 2, file.Length); // 16 clusters → 2 bitmap bytes
        Assert.Equal(expected, file[..2560]);
        Assert.Equal(new byte[2], file[2560..]);
        Assert.Equal(1 << 20, new FileInfo(_dir.File("d.raw")).Length);
    }

    [Fact]
    public void HeaderValueRoundTripsThroughTheHandBuiltBytes()
    {
        var bytes = AddCowFixture.HeaderBytes("bäse.img", "disk.raw");
        var h = AddCowHeader.Parse(bytes, "x");
        Assert.Equal(new AddCowHeader("bäse.img", "disk.raw"), h);
        var again = new byte[2560];
        again.AsSpan().Fill(0xEE);
        h.WriteTo(again);
        Assert.Equal(bytes, again);
    }

    [Fact]
    public void BitOrderIsLsbFirstGoldenVector()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 2 << 20, 2);
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            img.Write(0, new byte[Cluster]);                    // cluster 0
            img.Write(9L * Cluster + 100, new byte[10]);        // cluster 9 (partial: COW)
            img.Write(31L * Cluster, new byte[Cluster]);        // last cluster of a 2 MiB disk
        }
        Assert.Equal(new byte[] { 0x01, 0x02, 0x00, 0x80 }, AddCowFixture.StoredBitmap(_dir.File("d.add-cow")));
    }

    private const int Cluster = AddCowFixture.Cluster;

    [Fact]
    public void AnEightGibDiskHasAnAddCowFileOf18944Bytes()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 4096, 3);
        using (var img = AddCowFixture.Create(_dir, 8L << 30))
        {
            Assert.Equal(8L << 30, img.Size);
            Assert.Equal(131072, img.Clusters);
        }
        Assert.Equal(18944, new FileInfo(_dir.File("d.add-cow")).Length);
    }

    [Fact]
    public void APartialLastClusterCountsAsOneMoreBit()
    {
        // 9 clusters + 512 bytes → 10 clusters → 2 bitmap bytes; bit 1 of byte 1 is the partial cluster.
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 4096, 4);
        long size = 9L * Cluster + 512;
        using (var img = AddCowFixture.Create(_dir, size))
        {
            Assert.Equal(10, img.Clusters);
            img.Write(size - 512, new byte[512]);
        }
        Assert.Equal(new byte[] { 0x00, 0x02 }, AddCowFixture.StoredBitmap(_dir.File("d.add-cow")));
        Assert.Equal(size, new FileInfo(_dir.File("d.raw")).Length); // nothing written past S
    }

    [Fact]
    public void ProbeAnswersForTheMagicAndAnUnknownVersionIsRefusedNotOpenedAsRaw()
    {
        var f = new AddCowFormat();
        var h = AddCowFixture.HeaderBytes("b", "i");
        Assert.Equal(100, f.Probe(h, "x"));
        Assert.Equal(0, f.Probe(h.AsSpan(0, 11), "x"));
        h[11] = 2;
        Assert.Equal(100, f.Probe(h, "x")); // the parser, not the probe, turns an unknown version away
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 4096, 5);
        AddCowFixture.Create(_dir, 0).Dispose();
        Assert.Equal("add-cow", ImageFormats.Default.Probe(_dir.File("d.add-cow")).Name);
        using (var fs = new FileStream(_dir.File("d.add-cow"), FileMode.Open)) { fs.Position = 11; fs.WriteByte(2); }
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Open(_dir.File("d.add-cow")).Dispose());
        Assert.Contains("version", e.Message);
    }
}
