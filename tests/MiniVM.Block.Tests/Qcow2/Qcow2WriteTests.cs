namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Our own write paths: reopen round trips, refcount growth, refcount widths; qemu-img check as the referee.</summary>
public sealed class Qcow2WriteTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(64)]
    [Trait("Category", "Interop")]
    public void RefcountTableAndBlocksGrowAtEveryWidth(int refcountBits)
    {
        // 512-byte clusters: one refcount block covers few clusters and one table cluster 64 blocks,
        // so 12 MiB of data forces new blocks and a moved, larger refcount table.
        string img = _dir.File("grow.qcow2");
        long size = 12L << 20;
        var data = new byte[size];
        Qcow2Fixture.Fill(data, refcountBits);
        using (var q = Qcow2Fixture.Create(img, size, $"cluster_size=512,refcount_bits={refcountBits}"))
        {
            for (long off = 0; off < size; off += 1 << 20) q.Write(off, data.AsSpan((int)off, 1 << 20));
            Assert.True(q.Check().IsClean);
            if (refcountBits > 1) q.CreateSnapshot("s");
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        using var again = Qcow2Fixture.Open(img, readOnly: true);
        Qcow2Fixture.SameBytes(data, Qcow2Fixture.ReadAll(again));
        Assert.Equal(refcountBits, again.RefcountBits);
    }

    [Fact]
    public void RefcountOneRefusesSnapshotsInsteadOfOverflowing()
    {
        using var q = Qcow2Fixture.Create(_dir.File("r1.qcow2"), 1 << 20, "cluster_size=4K,refcount_bits=1");
        q.Write(0, new byte[8192]);
        var e = Assert.Throws<ImageFormatException>(() => q.CreateSnapshot("s"));
        Assert.Contains("would exceed 1", e.Message);
    }

    [Fact]
    public void WritesSurviveReopenAndBlockStatusDescribesThem()
    {
        string img = _dir.File("bs.qcow2");
        using (var q = Qcow2Fixture.Create(img, 1 << 20, "cluster_size=4K"))
        {
            q.Write(8192, new byte[4096].Select(_ => (byte)7).ToArray());
            q.WriteZeroes(16384, 8192);
        }
        using var r = Qcow2Fixture.Open(img, readOnly: true);
        var e0 = r.GetBlockStatus(0, 1 << 20);
        Assert.Equal((0L, 8192L, ExtentKind.Unallocated), (e0.Offset, e0.Length, e0.Kind));
        var e1 = r.GetBlockStatus(8192, 1 << 20);
        Assert.Equal((4096L, ExtentKind.Data), (e1.Length, e1.Kind));
        Assert.Equal(img, e1.File);
        Assert.True(e1.HostOffset > 0 && e1.HostOffset % 4096 == 0);
        var e2 = r.GetBlockStatus(12288, 1 << 20);
        Assert.Equal((4096L, ExtentKind.Unallocated), (e2.Length, e2.Kind));
        var e3 = r.GetBlockStatus(16384, 1 << 20);
        Assert.Equal((8192L, ExtentKind.Zero), (e3.Length, e3.Kind));
        var buf = new byte[4096];
        r.Read(8192, buf);
        Assert.All(buf, b => Assert.Equal(7, b));
    }

    [Fact]
    public void InfoDescribesTheImage()
    {
        string img = _dir.File("info.qcow2");
        using var q = Qcow2Fixture.Create(img, 1 << 20, "compat=0.10,cluster_size=4K");
        IImageInfo info = q;
        Assert.Equal(4096, info.ClusterSize);
        Assert.Equal([img], info.Files);
        Assert.True(info.DiskUsage > 0);
        Assert.Contains(new KeyValuePair<string, string>("compat", "0.10"), info.FormatSpecific);
        Assert.Contains(new KeyValuePair<string, string>("refcount bits", "16"), info.FormatSpecific);
    }

    [Fact]
    public void OutOfRangeAndReadOnlyRequestsAreRefusedClearly()
    {
        string img = _dir.File("ro.qcow2");
        Qcow2Fixture.Create(img, 65536).Dispose();
        using var q = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Contains("outside", Assert.Throws<ImageFormatException>(() => q.Read(65000, new byte[1000])).Message);
        Assert.Contains("read-only", Assert.Throws<ImageFormatException>(() => q.Write(0, new byte[1])).Message);
        Assert.True(q.IsReadOnly);
    }

    [Fact]
    public void CreateRejectsBadOptions()
    {
        string img = _dir.File("opt.qcow2");
        Assert.Contains("compat", Assert.Throws<ImageFormatException>(() => Qcow2Fixture.Create(img, 1 << 20, "compat=2")).Message);
        Assert.Contains("cluster_size", Assert.Throws<ImageFormatException>(() => Qcow2Fixture.Create(img, 1 << 20, "cluster_size=3000")).Message);
        Assert.Contains("refcount_bits", Assert.Throws<ImageFormatException>(() => Qcow2Fixture.Create(img, 1 << 20, "compat=0.10,refcount_bits=8")).Message);
        Assert.Contains("lazy_refcounts", Assert.Throws<ImageFormatException>(() => Qcow2Fixture.Create(img, 1 << 20, "lazy_refcounts=on")).Message);
        Assert.Contains("no option", Assert.Throws<ImageFormatException>(() => Qcow2Fixture.Create(img, 1 << 20, "encryption=on")).Message);
        Assert.Contains("inside /proc", Assert.Throws<ImageFormatException>(() => Qcow2Fixture.Create(img, 1 << 20, null, "/proc/self/environ")).Message);
    }

    [Fact]
    public void Qcow3AliasCreatesVersion3QcowTwoFiles()
    {
        string img = _dir.File("alias.qcow3");
        using (var d = ImageFormats.Default.Create("qcow3", img, 1 << 20, ImageCreateOptions.Parse(null)))
        {
            Assert.Equal("qcow2", d.FormatName);
            ((IUserMetadata)d).SetUserMetadata("title", "x");
        }
        Assert.Equal("qcow2", ImageFormats.Default.Probe(img).Name);
        using var q = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Equal(3, q.Version);
        Assert.Contains("compat=0.10", Assert.Throws<ImageFormatException>(() =>
            ImageFormats.Default.Create("qcow3", _dir.File("v2.qcow3"), 1 << 20, ImageCreateOptions.Parse("compat=0.10"))).Message);
    }

    [Fact]
    public void UserMetadataRoundTripsAndTooLargeIsRefused()
    {
        string img = _dir.File("meta.qcow2");
        using (var q = Qcow2Fixture.Create(img, 1 << 20, "cluster_size=512"))
        {
            q.SetUserMetadata("k", "v"u8);
            var e = Assert.Throws<ImageFormatException>(() => q.SetUserMetadata("big", new byte[600]));
            Assert.Contains("too large for this cluster size", e.Message);
            Assert.Throws<ImageFormatException>(() => q.SetUserMetadata("", "x"u8));
        }
        using var r = Qcow2Fixture.Open(img, readOnly: true);
        var kv = Assert.Single(r.UserMetadata);
        Assert.Equal("k", kv.Key);
        Assert.Equal("v"u8.ToArray(), kv.Value);
    }
}
