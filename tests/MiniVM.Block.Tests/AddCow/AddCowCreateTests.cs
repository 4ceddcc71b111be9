using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>Create (add-cow.md §6.4): the raw file gives the size and is never truncated; the add-cow file appears whole.</summary>
public sealed class AddCowCreateTests : IDisposable
{
    private const int Cluster = AddCowFixture.Cluster;
    private readonly TempDir _dir = new();

    public AddCowCreateTests() => AddCowFixture.CreateBacking(_dir, "base.img", "raw", (3 * Cluster) + 100, 1);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void WithoutASizeTheBackingSizeRoundedUpTo512IsUsed()
    {
        using var img = AddCowFixture.Create(_dir, 0);
        Assert.Equal(3 * Cluster + 512, img.Size);
        Assert.Equal(3 * Cluster + 512, new FileInfo(_dir.File("d.raw")).Length);
        // No temporary file is left behind by the atomic create.
        Assert.Equal(["base.img", "d.add-cow", "d.raw"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AnExistingRawOfAnotherSizeIsRefusedAndLeftUntouched()
    {
        var data = new byte[Cluster];
        AddCowFixture.Fill(data, 5);
        File.WriteAllBytes(_dir.File("d.raw"), data);
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 2 * Cluster));
        Assert.Contains("never truncates", e.Message);
        Assert.Equal(data, File.ReadAllBytes(_dir.File("d.raw")));
        Assert.False(File.Exists(_dir.File("d.add-cow")));
    }

    [Fact]
    public void AnExistingRawGivesTheSizeAndItsBytesStayHiddenUntilWritten()
    {
        var data = new byte[2 * Cluster];
        AddCowFixture.Fill(data, 6);
        File.WriteAllBytes(_dir.File("d.raw"), data);
        var first = new byte[Cluster];
        using (var img = AddCowFixture.Create(_dir, 0))
        {
            Assert.Equal(2 * Cluster, img.Size);
            img.Read(0, first);
        }
        Assert.Equal(File.ReadAllBytes(_dir.File("base.img"))[..Cluster], first); // bit 0: the backing
        Assert.Equal(data, File.ReadAllBytes(_dir.File("d.raw")));
    }

    [Fact]
    public void AnExistingEmptyRawIsSizedAsAsked()
    {
        File.WriteAllBytes(_dir.File("d.raw"), []);
        using var img = AddCowFixture.Create(_dir, 5 * Cluster);
        Assert.Equal(5 * Cluster, img.Size);
    }

    [Fact]
    public void CreateDoesNotOverwriteAnExistingAddCowFile()
    {
        File.WriteAllBytes(_dir.File("d.add-cow"), [1, 2, 3]);
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 0));
        Assert.Contains("already exists", e.Message);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(_dir.File("d.add-cow")));
        Assert.False(File.Exists(_dir.File("d.raw")));
    }

    [Fact]
    public void ABackingIsRequiredAndMustExist()
    {
        var o = new ImageCreateOptions();
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Create("add-cow", _dir.File("n.add-cow"), Cluster, o));
        Assert.Contains("backing file", e.Message);
        e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 0, backing: "missing.img"));
        Assert.Contains("does not exist", e.Message);
        Assert.False(File.Exists(_dir.File("d.raw")));
        Assert.False(File.Exists(_dir.File("d.add-cow")));
    }

    [Fact]
    public void NamesLongerThan1023BytesAreRefusedNotTruncated()
    {
        string longName = new string('n', 1020) + ".raw";
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 0, image: longName));
        Assert.Contains("1023", e.Message);
    }

    [Fact]
    public void UnsafeNamesAndUnalignedSizesAreRefusedAtCreate()
    {
        Assert.Contains("allow-unsafe-paths", Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 0, image: "../x.raw")).Message);
        Assert.Contains("multiple of 512", Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 1000)).Message);
        Assert.Contains("same file", Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 0, image: "base.img")).Message);
    }

    [Fact]
    public void BackingFormatMustMatchWhatTheFileIsAndQcow2BackingsWork()
    {
        var e = Assert.Throws<ImageFormatException>(() => AddCowFixture.Create(_dir, 0, backingFmt: "qcow2"));
        Assert.Contains("probes as raw", e.Message);
        var q = AddCowFixture.CreateBacking(_dir, "base.qcow2", "qcow2", 2 * Cluster, 7);
        using var img = AddCowFixture.Create(_dir, 0, backing: "base.qcow2", backingFmt: "qcow2");
        Assert.Equal("qcow2", img.Backing!.FormatName);
        Assert.Equal(q, AddCowFixture.ReadAll(img));
    }

    [Fact]
    public void WithoutImageFileTheRawIsNamedAfterTheAddCowFile()
    {
        var o = new ImageCreateOptions { BackingFile = "base.img" };
        using var img = (AddCowImage)ImageFormats.Default.Create("add-cow", _dir.File("vm.add-cow"), 0, o);
        Assert.Equal("vm.add-cow.raw", img.ImageFileName);
        Assert.True(File.Exists(_dir.File("vm.add-cow.raw")));
    }

    [Fact]
    public void InfoNamesBothFilesAndTheClusterSize()
    {
        using var img = AddCowFixture.Create(_dir, 0);
        img.Write(0, new byte[10]);
        IImageInfo info = img;
        Assert.Equal(65536, info.ClusterSize);
        Assert.Equal([_dir.File("d.add-cow"), Path.GetFullPath(_dir.File("d.raw"))], info.Files.Select(Path.GetFullPath));
        Assert.Contains(new KeyValuePair<string, string>("image file", "d.raw"), info.FormatSpecific);
        Assert.Contains(new KeyValuePair<string, string>("allocated clusters", "1 of 4"), info.FormatSpecific);
        Assert.Null(img.BackingFormat);
        Assert.Equal("base.img", img.BackingFileName);
        var check = img.Check();
        Assert.True(check.IsClean);
        Assert.Equal(1, check.AllocatedClusters);
        Assert.Equal(4, check.TotalClusters);
    }
}
