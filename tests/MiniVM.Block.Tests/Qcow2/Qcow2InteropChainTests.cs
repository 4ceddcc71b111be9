namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Backing files and compressed clusters, against real qemu-img.</summary>
[Trait("Category", "Interop")]
public sealed class Qcow2InteropChainTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string MakeRawBase(long size, int seed)
    {
        string path = _dir.File("base.raw");
        var b = new byte[size];
        Qcow2Fixture.Fill(b, seed);
        File.WriteAllBytes(path, b);
        return path;
    }

    [Theory]
    [InlineData("0.10")]
    [InlineData("1.1")]
    public void QemuOverlayOnRawReadsThroughBacking(string compat)
    {
        MakeRawBase(3L << 20, 1);
        string ov = _dir.File("ov.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", $"compat={compat},cluster_size=4K", "-b", "base.raw", "-F", "raw", ov, "4M");
        QemuTools.Io(ov, "write -P 0x42 4096 8192", "write -z 65536 4096", "write -P 0x99 3145000 2000", "write -P 0x5 100 10");
        var expected = Qcow2Fixture.QemuView(ov, _dir);
        using var q = Qcow2Fixture.Open(ov, readOnly: true);
        Assert.Equal("base.raw", q.BackingFileName);
        Assert.Equal("raw", q.BackingFormat);
        Assert.NotNull(q.Backing);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.ReadAll(q));
    }

    [Fact]
    public void OurOverlayOverQemuQcow2OverRawComparesEqual()
    {
        MakeRawBase(2L << 20, 2);
        string mid = _dir.File("mid.qcow2"), top = _dir.File("top.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid, "2M");
        QemuTools.Io(mid, "write -P 0x61 0 100k");
        var data = new byte[300_000];
        Qcow2Fixture.Fill(data, 3);
        using (var q = Qcow2Fixture.Create(top, 0, "cluster_size=4K", backing: "mid.qcow2"))
        {
            Assert.Equal(2L << 20, q.Size);
            Assert.Equal("qcow2", q.BackingFormat);
            q.Write(50_000, data);
            q.WriteZeroes(1_000_000, 70_000); // v3 zero clusters hide the backing data
            q.Write(2_000_000, data.AsSpan(0, 1000));
        }
        Qcow2Fixture.AssertQemuCheckClean(top);
        var expected = Qcow2Fixture.QemuView(top, _dir);
        Assert.All(expected.AsSpan(1_000_000, 70_000).ToArray(), b => Assert.Equal(0, b));
        using var again = Qcow2Fixture.Open(top, readOnly: true);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.ReadAll(again));
    }

    [Theory]
    [InlineData("0.10", "64K")]
    [InlineData("1.1", "4K")]
    [InlineData("1.1", "512")]
    public void CompressedImageFromQemuConvertReadsIdentically(string compat, string clusterSize)
    {
        // Compressible content: repeated text with a little noise, and some zero runs.
        var raw = new byte[3 << 20];
        var rnd = new Random(4);
        for (int i = 0; i < raw.Length; i++) raw[i] = (i / 4096) % 3 == 0 ? (byte)0 : (byte)("minivm qcow2 "[i % 13] ^ (rnd.Next(50) == 0 ? 1 : 0));
        string src = _dir.File("src.raw"), img = _dir.File("c.qcow2");
        File.WriteAllBytes(src, raw);
        QemuTools.Img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", $"compat={compat},cluster_size={clusterSize}", src, img);
        Assert.True(new FileInfo(img).Length < raw.Length / 2, "qemu-img did not compress");
        using (var q = Qcow2Fixture.Open(img, readOnly: true))
        {
            Qcow2Fixture.SameBytes(raw, Qcow2Fixture.ReadAll(q));
            Assert.Equal(ExtentKind.Data, q.GetBlockStatus(4096, 4096).Kind);
            Assert.True(q.Check().IsClean);
        }
        // Partial overwrites of compressed clusters copy them out; the compressed host clusters are released.
        using (var q = Qcow2Fixture.Open(img))
        {
            q.Write(4100, new byte[] { 1, 2, 3 });
            raw[4100] = 1; raw[4101] = 2; raw[4102] = 3;
            q.Write(1 << 20, new byte[70000]);
            Array.Clear(raw, 1 << 20, 70000);
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        Qcow2Fixture.SameBytes(raw, Qcow2Fixture.QemuView(img, _dir));
    }
}
