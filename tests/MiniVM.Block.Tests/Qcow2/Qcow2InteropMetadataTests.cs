using System.Text;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>
/// The user-metadata header extension against real qemu-img: which operations keep it (qcow3.md §3.4.3, verified
/// here rather than taken on trust).
/// </summary>
[Trait("Category", "Interop")]
public sealed class Qcow2InteropMetadataTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Tagged(string compat)
    {
        string img = _dir.File($"m-{Guid.NewGuid():N}.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", $"compat={compat}", img, "4M");
        QemuTools.Io(img, "write -P 0x66 0 128k");
        using var q = Qcow2Fixture.Open(img);
        ((IUserMetadata)q).SetUserMetadata("org.minivm.title", "Test appliance");
        q.SetUserMetadata("org.minivm.icon", new byte[] { 0, 1, 2, 255, 0 });
        return img;
    }

    private static void AssertTagged(string img)
    {
        using var q = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Equal("Test appliance", Encoding.UTF8.GetString(((IUserMetadata)q).GetUserMetadata("org.minivm.title")!));
        Assert.Equal(new byte[] { 0, 1, 2, 255, 0 }, ((IUserMetadata)q).GetUserMetadata("org.minivm.icon"));
    }

    [Theory]
    [InlineData("1.1", "resize", "+1M")]
    [InlineData("0.10", "resize", "+1M")]
    [InlineData("1.1", "snapshot", "-c")]
    [InlineData("0.10", "snapshot", "-c")]
    [InlineData("1.1", "amend", "lazy_refcounts=on")]
    [InlineData("1.1", "amend", "compat=0.10")]
    [InlineData("0.10", "amend", "compat=1.1")]
    [InlineData("1.1", "check", "-r all")]
    [InlineData("1.1", "qemu-io", "write")]
    [InlineData("1.1", "rebase", "-u")]
    [InlineData("1.1", "snapshot", "-a")]
    [InlineData("1.1", "snapshot", "-d")]
    [InlineData("1.1", "resize", "--shrink")]
    [InlineData("1.1", "commit", "")]
    [InlineData("1.1", "bitmap", "--add")]
    public void ExtensionSurvivesQemuImg(string compat, string operation, string arg)
    {
        string img = Tagged(compat);
        Qcow2Fixture.AssertQemuCheckClean(img);
        var view = Qcow2Fixture.QemuView(img, _dir);
        switch (operation)
        {
            case "resize" when arg == "--shrink": QemuTools.Img("resize", "-q", "-f", "qcow2", "--shrink", img, "3M"); break;
            case "resize": QemuTools.Img("resize", "-q", "-f", "qcow2", img, arg); break;
            case "snapshot" when arg == "-c": QemuTools.Img("snapshot", "-c", "s1", img); break;
            case "snapshot":
                QemuTools.Img("snapshot", "-c", "s1", img);
                QemuTools.Io(img, "write -P 0x13 0 4k");
                QemuTools.Img("snapshot", arg, "s1", img);
                break;
            case "commit":
            {
                // The tagged image is the base: commit rewrites it from an overlay.
                string top = _dir.File("top.qcow2");
                QemuTools.Img("create", "-q", "-f", "qcow2", "-b", Path.GetFileName(img), "-F", "qcow2", top);
                QemuTools.Io(top, "write -P 0x14 2m 64k");
                QemuTools.Img("commit", "-q", "-f", "qcow2", top);
                break;
            }
            case "bitmap": QemuTools.Img("bitmap", "--add", "-f", "qcow2", img, "b0"); break;
            case "amend": QemuTools.Img("amend", "-f", "qcow2", "-o", arg, img); break;
            case "check": QemuTools.Img("check", "-r", "all", img); break;
            case "qemu-io": QemuTools.Io(img, "write -P 0x12 1m 64k"); break;
            case "rebase":
                File.WriteAllBytes(_dir.File("other.raw"), new byte[4 << 20]);
                QemuTools.Img("rebase", "-u", "-f", "qcow2", "-b", "other.raw", "-F", "raw", img);
                break;
        }
        AssertTagged(img);
        Qcow2Fixture.AssertQemuCheckClean(img);
        if (operation is "amend" or "check" or "bitmap")
            Qcow2Fixture.SameBytes(view, Qcow2Fixture.QemuView(img, _dir));
    }

    [Fact]
    public void OurHeaderRewriteKeepsQemuExtensionsAndFieldsByteForByte()
    {
        File.WriteAllBytes(_dir.File("b.raw"), new byte[1 << 20]);
        string img = _dir.File("ext.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-b", "b.raw", "-F", "raw", img, "1M");
        byte[] before = File.ReadAllBytes(img);
        var h0 = MiniVM.Block.Qcow2.Qcow2Header.Parse(before.AsSpan(0, 65536), before.Length, img);
        using (var q = Qcow2Fixture.Open(img)) q.SetUserMetadata("a", "b"u8);
        byte[] after = File.ReadAllBytes(img);
        var h1 = MiniVM.Block.Qcow2.Qcow2Header.Parse(after.AsSpan(0, 65536), after.Length, img);
        Assert.Equal(h0.HeaderLength, h1.HeaderLength);
        Assert.Equal(before.AsSpan(0, 8).ToArray(), after.AsSpan(0, 8).ToArray());
        Assert.Equal(before.AsSpan(20, h0.HeaderLength - 20).ToArray(), after.AsSpan(20, h1.HeaderLength - 20).ToArray());
        foreach (var e in h0.Extensions)
            Assert.Equal(e.Data, h1.Find(e.Type)!.Data);
        Assert.Equal("b.raw", h1.BackingFileName);
        Assert.Equal(h0.Extensions.Count + 1, h1.Extensions.Count);
        var info = QemuTools.Img("info", img).Stdout;
        Assert.Contains("backing file format: raw", info);
        Qcow2Fixture.AssertQemuCheckClean(img);
    }

    [Fact]
    public void ConvertDropsTheExtensionAsExpected()
    {
        string img = Tagged("1.1"), copy = _dir.File("copy.qcow2");
        QemuTools.Img("convert", "-f", "qcow2", "-O", "qcow2", img, copy);
        using var q = Qcow2Fixture.Open(copy, readOnly: true);
        Assert.Empty(q.UserMetadata);
    }

    [Fact]
    public void MetadataIsReadBackAfterQemuInfoAndCheck()
    {
        string img = Tagged("1.1");
        var info = QemuTools.Img("info", img);
        Assert.Contains("compat: 1.1", info.Stdout);
        Qcow2Fixture.AssertQemuCheckClean(img);
        using (var q = Qcow2Fixture.Open(img))
        {
            Assert.True(q.RemoveUserMetadata("org.minivm.icon"));
            Assert.False(q.RemoveUserMetadata("org.minivm.icon"));
        }
        using var again = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Single(again.UserMetadata);
        Qcow2Fixture.AssertQemuCheckClean(img);
    }
}
