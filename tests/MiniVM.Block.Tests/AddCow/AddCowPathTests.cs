namespace MiniVM.Block.Tests.AddCow;

/// <summary>
/// Names stored in an add-cow header are attacker-controlled (add-cow.md §5.4): the image file must be a plain name
/// next to the image unless AllowUnsafePaths; the backing file follows qemu-img's rule (absolute, or relative to the
/// image's folder) but protocol prefixes and pseudo-file trees need the override; aliases are refused even then.
/// </summary>
public sealed class AddCowPathTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public AddCowPathTests()
    {
        File.WriteAllBytes(_dir.File("base.img"), new byte[2 * Cluster]);
        File.WriteAllBytes(_dir.File("d.raw"), new byte[2 * Cluster]);
    }

    public void Dispose() => _dir.Dispose();

    private string WithNames(string backing, string image) =>
        AddCowFixture.WriteByHand(_dir, AddCowFixture.HeaderBytes(backing, image), [0], -1);

    [Theory]
    [InlineData("/proc/self/environ")]
    [InlineData("../../../../../../proc/self/mem")]
    [InlineData("nbd:host")]
    [InlineData("file:stream")]
    public void UnsafeBackingNamesAreRefusedByDefault(string name)
    {
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames(name, "d.raw")).Dispose());
        Assert.Contains("backing file", e.Message);
        Assert.Contains("allow-unsafe-paths", e.Message);
    }

    [Theory]
    [InlineData("/tmp/x.raw")]
    [InlineData("../d.raw")]
    [InlineData("nbd:host")]
    public void UnsafeImageNamesAreRefusedByDefault(string name)
    {
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames("base.img", name)).Dispose());
        Assert.Contains("image file", e.Message);
    }

    [Fact]
    public void PlainNamesOpenAndSubdirectoriesNeedTheOverride()
    {
        using (AddCowFixture.Open(WithNames("base.img", "d.raw"))) { }
        Directory.CreateDirectory(_dir.File("sub/dir"));
        File.WriteAllBytes(_dir.File("sub/dir/x.raw"), new byte[2 * Cluster]);
        string path = WithNames("base.img", "sub/dir/x.raw");
        Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(path).Dispose());
        using var img = AddCowFixture.Open(path, allowUnsafe: true);
        Assert.Equal(Path.GetFullPath(_dir.File("sub/dir/x.raw")), Path.GetFullPath(img.RawPath));
    }

    [Fact]
    public void ASymlinkOutOfTheDirectoryIsRefused()
    {
        using var outside = new TempDir();
        File.WriteAllBytes(outside.File("secret"), new byte[2 * Cluster]);
        File.CreateSymbolicLink(_dir.File("link.raw"), outside.File("secret"));
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames("base.img", "link.raw")).Dispose());
        Assert.Contains("symbolic link", e.Message);
        File.CreateSymbolicLink(_dir.File("near.raw"), "d.raw"); // a link inside the directory is fine
        using (AddCowFixture.Open(WithNames("base.img", "near.raw"))) { }
    }

    [Theory]
    [InlineData("d.raw", "d.raw", "same file")]
    [InlineData("base.img", "d.add-cow", "add-cow file itself")]
    [InlineData("d.add-cow", "d.raw", "add-cow file itself")]
    public void AliasesAreRefusedEvenWhenUnsafePathsAreAllowed(string backing, string image, string expected)
    {
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames(backing, image), allowUnsafe: true).Dispose());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ASymlinkAliasOfTheBackingIsRefused()
    {
        File.CreateSymbolicLink(_dir.File("alias.raw"), "base.img");
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames("base.img", "alias.raw")).Dispose());
        Assert.Contains("same file", e.Message);
    }

    [Fact]
    public void AFifoOrDeviceIsRefusedWithoutBlocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        using (var p = System.Diagnostics.Process.Start("mkfifo", [_dir.File("pipe.raw")])) p.WaitForExit();
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames("base.img", "pipe.raw")).Dispose());
        Assert.Contains("not a regular file", e.Message);
        e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Open(WithNames("/dev/zero", "d.raw"), allowUnsafe: true).Dispose());
        Assert.Contains("not a regular file", e.Message);
    }
}
