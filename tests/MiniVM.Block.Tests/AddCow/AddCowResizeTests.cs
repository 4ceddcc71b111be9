namespace MiniVM.Block.Tests.AddCow;

/// <summary>Resize (add-cow.md §3.7): raw keeps the size, the bitmap follows, stale bits never come back.</summary>
public sealed class AddCowResizeTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ShrinkThenGrowKeepsTheDataAndShowsTheBackingInTheNewSpace()
    {
        var backing = AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 1);
        var data = new byte[1 << 20];
        AddCowFixture.Fill(data, 2);
        const long Small = 9L * Cluster + 3 * 512; // the last cluster partial
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            img.Write(0, data.AsSpan(0, 10 * Cluster));  // clusters 0..9 in raw
            img.Write(13L * Cluster, data.AsSpan(0, 100)); // cluster 13, cut off by the shrink
            img.Resize(Small);
            Assert.Equal(Small, img.Size);
            Assert.Equal(data.AsSpan(0, (int)Small).ToArray(), AddCowFixture.ReadAll(img));
        }
        Assert.Equal(Small, new FileInfo(_dir.File("d.raw")).Length);
        Assert.Equal(2560 + 2, new FileInfo(_dir.File("d.add-cow")).Length);
        Assert.Equal(new byte[] { 0xFF, 0x03 }, AddCowFixture.StoredBitmap(_dir.File("d.add-cow")));

        using (var img = AddCowFixture.Open(_dir.File("d.add-cow")))
        {
            img.Resize(2L << 20);
            var expect = new byte[2 << 20];
            data.AsSpan(0, (int)Small).CopyTo(expect);
            // Cluster 9 is allocated: its grown tail reads raw's zeroes (documented, §3.7). From cluster 10 on: backing,
            // whose 1 MiB end is followed by zeroes; cluster 13's old bit did not come back.
            backing.AsSpan(10 * Cluster).CopyTo(expect.AsSpan(10 * Cluster));
            Assert.Equal(expect, AddCowFixture.ReadAll(img));
            Assert.False(img.IsAllocated(13));
            img.Write((2L << 20) - 10, new byte[] { 1, 2, 3 });
        }
        Assert.Equal(2L << 20, new FileInfo(_dir.File("d.raw")).Length);
        Assert.Equal(new byte[] { 0xFF, 0x03, 0x00, 0x80 }, AddCowFixture.StoredBitmap(_dir.File("d.add-cow")));
    }

    [Fact]
    public void StaleBitsFromACrashedShrinkDoNotComeBackAfterAGrow()
    {
        // A shrink from 16 to 3 clusters that crashed after truncating raw: the bitmap still has its old 2 bytes of ones.
        var backing = AddCowFixture.CreateBacking(_dir, "base.img", "raw", 16 * Cluster, 3);
        string path = AddCowFixture.WriteByHand(_dir, AddCowFixture.HeaderBytes("base.img", "d.raw"), [0xFF, 0xFF], 3 * Cluster);
        using (var img = AddCowFixture.Open(path))
        {
            Assert.Equal(3 * Cluster, img.Size);
            img.Resize(16 * Cluster);
            for (int k = 3; k < 16; k++) Assert.False(img.IsAllocated(k), $"cluster {k}");
            var all = AddCowFixture.ReadAll(img);
            Assert.Equal(backing.AsSpan(3 * Cluster).ToArray(), all.AsSpan(3 * Cluster).ToArray());
        }
        Assert.Equal(new byte[] { 0x07, 0x00 }, AddCowFixture.StoredBitmap(path));
        using var again = AddCowFixture.Open(path, readOnly: true);
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void SizesTheFormatCannotHoldAreRefused()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", Cluster, 4);
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            Assert.Contains("multiple of 512", Assert.Throws<ImageFormatException>(() => img.Resize(Cluster + 1)).Message);
            Assert.Contains("empty", Assert.Throws<ImageFormatException>(() => img.Resize(0)).Message);
            Assert.Contains("limit", Assert.Throws<ImageFormatException>(() => img.Resize(3L << 40)).Message);
            Assert.Equal(Cluster, img.Size);
        }
        using var ro = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        Assert.Contains("read-only", Assert.Throws<ImageFormatException>(() => ro.Resize(2 * Cluster)).Message);
    }
}
