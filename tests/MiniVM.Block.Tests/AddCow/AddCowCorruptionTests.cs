using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>
/// Field-by-field corruption of the header and the files it names (add-cow.md §5.2, §6.2, §6.5): each is refused with
/// one ImageFormatException naming the field, or tolerated exactly as the spec says.
/// </summary>
public sealed class AddCowCorruptionTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public AddCowCorruptionTests() => File.WriteAllBytes(_dir.File("base.img"), new byte[4 * Cluster]);

    public void Dispose() => _dir.Dispose();

    private string Write(Action<byte[]> corrupt, byte[]? bitmap = null, long rawSize = 4 * Cluster)
    {
        var h = AddCowFixture.HeaderBytes("base.img", "d.raw");
        corrupt(h);
        return AddCowFixture.WriteByHand(_dir, h, bitmap ?? [0], rawSize);
    }

    private ImageFormatException Refused(string path, bool allowUnsafe = false) =>
        Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(path, allowUnsafe: allowUnsafe).Dispose());

    [Fact]
    public void TheUntouchedHandBuiltFileOpens()
    {
        using var img = AddCowFixture.Open(Write(_ => { }));
        Assert.Equal(4 * Cluster, img.Size);
        Assert.Equal("base.img", img.BackingFileName);
    }

    [Theory]
    [InlineData(0, "magic")]
    [InlineData(7, "magic")]
    [InlineData(8, "version")]
    [InlineData(11, "version")]
    [InlineData(2060, "v4 add-cow layout")]
    [InlineData(2067, "v4 add-cow layout")]
    [InlineData(2068, "reserved[8]")]
    [InlineData(2559, "reserved[499]")]
    public void AFlippedFixedFieldIsNamed(int offset, string expected)
    {
        var e = Refused(Write(h => h[offset] ^= 0x10));
        Assert.Contains(expected, e.Message);
        Assert.Contains("d.add-cow", e.Message);
    }

    [Fact]
    public void VersionTwoIsUnsupported()
    {
        var e = Refused(Write(h => h[11] = 2));
        Assert.Contains("version = 2", e.Message);
    }

    [Theory]
    [InlineData(12, "backing_file")]
    [InlineData(1036, "image_file")]
    public void ANameFieldWithoutNul(int field, string name)
    {
        var e = Refused(Write(h => h.AsSpan(field, 1024).Fill((byte)'a')));
        Assert.Contains(name, e.Message);
        Assert.Contains("NUL", e.Message);
    }

    [Theory]
    [InlineData(12 + 500, "backing_file")]
    [InlineData(1036 + 1023, "image_file")]
    public void GarbageAfterTheNul(int at, string name)
    {
        var e = Refused(Write(h => h[at] = 0x41));
        Assert.Contains(name, e.Message);
        Assert.Contains("after the NUL", e.Message);
    }

    [Fact]
    public void InvalidUtf8AndControlCharactersInAName()
    {
        Assert.Contains("UTF-8", Refused(Write(h => { h[12] = 0xC3; h[13] = 0x28; })).Message);
        Assert.Contains("control character", Refused(Write(h => h[1036 + 1] = 0x0A)).Message);
    }

    [Fact]
    public void AnEmptyImageName()
    {
        var e = Refused(Write(h => h.AsSpan(1036, 1024).Clear()));
        Assert.Contains("image_file", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(11)]
    [InlineData(2559)]
    public void AFileShorterThanTheHeader(int length)
    {
        string path = Write(_ => { });
        var all = File.ReadAllBytes(path);
        File.WriteAllBytes(path, all[..length]);
        var e = Refused(path);
        Assert.Contains("truncated header", e.Message);
    }

    [Fact]
    public void ABitmapShorterThanTheDiskNeeds()
    {
        var e = Refused(Write(_ => { }, bitmap: [], rawSize: 4 * Cluster));
        Assert.Contains("bitmap is 0 bytes", e.Message);
        e = Refused(Write(_ => { }, bitmap: [0], rawSize: 9 * Cluster));
        Assert.Contains("needs 2", e.Message);
    }

    [Theory]
    [InlineData(0L, "empty")]
    [InlineData(1000L, "multiple of 512")]
    [InlineData(3L << 40, "limit")]
    public void ARawSizeThatIsZeroUnalignedOrAboveTheCap(long rawSize, string expected)
    {
        var e = Refused(Write(_ => { }, bitmap: new byte[8], rawSize: rawSize));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AMissingRawOrBackingFile()
    {
        Assert.Contains("does not exist", Refused(Write(_ => { }, rawSize: -1)).Message);
        File.Delete(_dir.File("d.raw"));
        File.Delete(_dir.File("base.img"));
        Assert.Contains("does not exist", Refused(Write(_ => { })).Message);
    }

    [Fact]
    public void StrayBitsPastTheEndAreIgnoredReportedAndClearedWhenWritable()
    {
        // 3 clusters: bits 3..7 of byte 0 lie past the end; a longer bitmap tail is ignored (a crashed shrink).
        string path = Write(_ => { }, bitmap: [0xFA, 0xFF, 0xFF], rawSize: 3 * Cluster);
        using (var ro = AddCowFixture.Open(path, readOnly: true))
        {
            Assert.False(ro.IsAllocated(0));
            Assert.True(ro.IsAllocated(1));
            Assert.Throws<ImageFormatException>(() => ro.IsAllocated(3));
            var c = ro.Check();
            Assert.Equal(5, c.Corruptions);
            Assert.Equal(1, c.Leaks);
        }
        using (var rw = AddCowFixture.Open(path))
        {
            var c = rw.Check();
            Assert.Equal(0, c.Corruptions);
            Assert.Equal(5, c.CorruptionsFixed);
            Assert.Equal(1, c.Leaks);
            var repaired = rw.Check(RepairMode.Leaks);
            Assert.Equal(1, repaired.LeaksFixed);
            Assert.True(rw.Check().IsClean);
        }
        Assert.Equal(new byte[] { 0x02 }, AddCowFixture.StoredBitmap(path));
    }
}
