using System.Diagnostics;
using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>Read routing, copy-on-write and flush ordering against a shadow model (add-cow.md §3.3-3.5, §6.5).</summary>
public sealed class AddCowIoTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("raw", 3L << 20, 3L << 20, 1)]
    [InlineData("qcow2", 3L << 20, 3L << 20, 2)]
    [InlineData("raw", 3L << 20, (1L << 20) + 1000, 3)]     // backing shorter than the disk: zeroes past its end
    [InlineData("qcow2", (2L << 20) + 3584, 5L << 20, 4)]   // backing longer; last cluster partial
    public void RandomIoMatchesTheShadowModelAcrossReopens(string backingFormat, long size, long backingSize, int seed)
    {
        var backing = AddCowFixture.CreateBacking(_dir, "base.img", backingFormat, backingSize, seed);
        var shadow = new byte[size];
        backing.AsSpan(0, (int)Math.Min(size, backingSize)).CopyTo(shadow);
        var rng = new Random(seed);
        var img = AddCowFixture.Create(_dir, size);
        try
        {
            Assert.Equal(shadow, AddCowFixture.ReadAll(img));
            var buf = new byte[300_000];
            for (int op = 0; op < 400; op++)
            {
                long off = rng.Next(4) == 0 ? rng.NextInt64(size / Cluster) * Cluster : rng.NextInt64(size);
                int len = (int)Math.Min(size - off, rng.Next(5) switch { 0 => rng.Next(1, 100), 1 => Cluster, 2 => rng.Next(1, 3 * Cluster), 3 => 512, _ => rng.Next(1, buf.Length) });
                switch (rng.Next(10))
                {
                    case < 6:
                        AddCowFixture.Fill(buf.AsSpan(0, len), rng.Next());
                        img.Write(off, buf.AsSpan(0, len));
                        buf.AsSpan(0, len).CopyTo(shadow.AsSpan((int)off));
                        break;
                    case 6:
                        img.WriteZeroes(off, len);
                        shadow.AsSpan((int)off, len).Clear();
                        break;
                    case 7:
                        img.Flush();
                        break;
                    case 8:
                        img.Dispose();
                        img = AddCowFixture.Open(_dir.File("d.add-cow"));
                        break;
                    default:
                        var got = new byte[len];
                        img.Read(off, got);
                        Assert.True(shadow.AsSpan((int)off, len).SequenceEqual(got), $"op {op}: read {off}+{len} differs");
                        break;
                }
            }
            Assert.Equal(shadow, AddCowFixture.ReadAll(img));
            AssertBlockStatusMatchesBitmap(img);
        }
        finally { img.Dispose(); }
        using var ro = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        Assert.Equal(shadow, AddCowFixture.ReadAll(ro));
        Assert.True(ro.Check().IsClean);
        Assert.Equal(size, new FileInfo(_dir.File("d.raw")).Length);
    }

    private static void AssertBlockStatusMatchesBitmap(AddCowImage img)
    {
        long off = 0;
        while (off < img.Size)
        {
            var e = img.GetBlockStatus(off, long.MaxValue);
            Assert.True(e.Length > 0);
            for (long k = off / Cluster; k <= (off + e.Length - 1) / Cluster; k++)
                Assert.Equal(e.Kind == ExtentKind.Data, img.IsAllocated(k));
            off += e.Length;
        }
    }

    [Fact]
    public void APartialWriteLeavesTheRestOfTheClusterEqualToTheBackingBeforeAndAfterReopen()
    {
        var backing = AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 7);
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            img.Write(Cluster + 1000, new byte[] { 1, 2, 3 });
            var c = new byte[Cluster];
            img.Read(Cluster, c);
            var expect = backing.AsSpan(Cluster, Cluster).ToArray();
            expect[1000] = 1; expect[1001] = 2; expect[1002] = 3;
            Assert.Equal(expect, c);
        }
        // The raw file itself now holds the whole cluster (so raw alone is the disk once every bit is set, §1).
        var raw = File.ReadAllBytes(_dir.File("d.raw"));
        Assert.Equal(backing.AsSpan(Cluster, 1000).ToArray(), raw.AsSpan(Cluster, 1000).ToArray());
        Assert.Equal(backing.AsSpan(Cluster + 1003, Cluster - 1003).ToArray(), raw.AsSpan(Cluster + 1003, Cluster - 1003).ToArray());
        Assert.Equal(new byte[Cluster], raw.AsSpan(0, Cluster).ToArray()); // untouched cluster: not copied
        using var again = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        Assert.Equal(backing.AsSpan(0, Cluster).ToArray(), Read(again, 0, Cluster));
        Assert.Equal(raw.AsSpan(Cluster, Cluster).ToArray(), Read(again, Cluster, Cluster));
    }

    private static byte[] Read(IBlockDriver d, long off, int len)
    {
        var b = new byte[len];
        d.Read(off, b);
        return b;
    }

    [Fact]
    public void WithoutABackingNameUnallocatedClustersReadAsZeroes()
    {
        var header = AddCowFixture.HeaderBytes("", "d.raw");
        string path = AddCowFixture.WriteByHand(_dir, header, [0x02], 4 * Cluster);
        using (var raw = new FileStream(_dir.File("d.raw"), FileMode.Open)) { raw.Position = Cluster; raw.Write(Enumerable.Repeat((byte)0x5A, Cluster).ToArray()); raw.Position = 0; raw.Write(new byte[] { 9, 9 }); }
        using var img = AddCowFixture.Open(path);
        Assert.Null(img.BackingFileName);
        Assert.Null(img.Backing);
        Assert.Equal(new byte[] { 0, 0 }, Read(img, 0, 2));                        // bit 0: raw's 9 9 is not shown
        Assert.All(Read(img, Cluster, Cluster), b => Assert.Equal(0x5A, b));      // bit 1: raw
        img.Write(3L * Cluster + 10, new byte[] { 7 });
        var c3 = Read(img, 3L * Cluster, Cluster);
        Assert.Equal(7, c3[10]);
        Assert.Equal(Cluster - 1, c3.Count(b => b == 0));
    }

    [Fact]
    public void BitsReachTheFileAsTheWriteReturnsAndRewritingAnAllocatedClusterDirtiesNothing()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 8);
        string path = _dir.File("d.add-cow");
        using var img = AddCowFixture.Create(_dir, 0);
        img.Write(0, new byte[100]);
        // The bit is in the file as soon as the write returned, so a killed process loses nothing (issue 11).
        Assert.Equal(new byte[] { 1, 0 }, BitmapSeenByAnotherProcess(path));
        img.Flush();
        Assert.Equal(new byte[] { 1, 0 }, BitmapSeenByAnotherProcess(path));
        var before = File.GetLastWriteTimeUtc(path);
        Thread.Sleep(20);
        img.Write(10, new byte[100]);  // allocated: a pure raw write
        img.Flush();
        Assert.Equal(before, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void ASecondWriterInAnotherProcessIsRefused()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 9);
        AddCowFixture.Create(_dir, 0).Dispose();
        using var holder = new ImageHolder(_dir.File("d.add-cow"));
        var e = Assert.Throws<ImageLockedException>(() => AddCowFixture.Open(_dir.File("d.add-cow")));
        Assert.Contains("Failed to get \"write\" lock", e.Message);
    }

    [Fact]
    public void DiscardNeverClearsABitAndReadsZeroesWhereDataWas()
    {
        var backing = AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 10);
        using var img = AddCowFixture.Create(_dir, 0);
        img.Write(0, Enumerable.Repeat((byte)1, Cluster).ToArray());
        img.Discard(0, 3L * Cluster);
        Assert.True(img.IsAllocated(0));
        Assert.False(img.IsAllocated(1));
        Assert.Equal(new byte[Cluster], Read(img, 0, Cluster));
        Assert.Equal(backing.AsSpan(Cluster, 2 * Cluster).ToArray(), Read(img, Cluster, 2 * Cluster));
    }

    [Fact]
    public void RequestsOutsideTheDiskAndWritesToAReadOnlyImageAreFormatErrors()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 1 << 20, 11);
        AddCowFixture.Create(_dir, 0).Dispose();
        using var img = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        Assert.Throws<ImageFormatException>(() => img.Read((1 << 20) - 1, new byte[2]));
        Assert.Throws<ImageFormatException>(() => img.Read(-1, new byte[1]));
        Assert.Throws<ImageFormatException>(() => img.Write(0, new byte[1]));
        Assert.Throws<ImageFormatException>(() => img.GetBlockStatus(1 << 20, 10));
    }

    [Fact]
    public void NoBackingOpensOneLayerEvenWhenTheBackingIsGone()
    {
        AddCowFixture.CreateBacking(_dir, "base.img", "raw", 2 * Cluster, 12);
        using (var img = AddCowFixture.Create(_dir, 0)) img.Write(Cluster, Enumerable.Repeat((byte)3, Cluster).ToArray());
        File.Delete(_dir.File("base.img"));
        Assert.Contains("does not exist", Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(_dir.File("d.add-cow"))).Message);
        using var layer = ImageFormats.Default.Open(_dir.File("d.add-cow"), "add-cow", new ImageOpenContext { ReadOnly = true, NoBacking = true });
        Assert.Null(((IBackingImage)layer).Backing);
        Assert.Equal("base.img", ((IBackingImage)layer).BackingFileName);
        Assert.Equal(new byte[Cluster], Read(layer, 0, Cluster));
        Assert.All(Read(layer, Cluster, Cluster), b => Assert.Equal(3, b));
    }

    [Fact]
    public void TwoReadersMayShareTheImage()
    {
        var backing = AddCowFixture.CreateBacking(_dir, "base.img", "raw", 2 * Cluster, 13);
        AddCowFixture.Create(_dir, 0).Dispose();
        using var a = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        using var b = AddCowFixture.Open(_dir.File("d.add-cow"), readOnly: true);
        Assert.Equal(backing, AddCowFixture.ReadAll(a));
        Assert.Equal(backing, AddCowFixture.ReadAll(b));
    }

    /// <summary>The image holds an exclusive lock; cat takes none, like a crash-time observer of the file.</summary>
    internal static byte[] BitmapSeenByAnotherProcess(string path)
    {
        var psi = new ProcessStartInfo("cat") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(path);
        using var p = Process.Start(psi)!;
        using var ms = new MemoryStream();
        p.StandardOutput.BaseStream.CopyTo(ms);
        p.WaitForExit();
        return ms.ToArray()[2560..];
    }
}
