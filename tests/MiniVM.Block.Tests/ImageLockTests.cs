namespace MiniVM.Block.Tests;

/// <summary>
/// Image locking against other processes, QEMU's way (ImageLock): bytes 100+perm held, 200+perm not shared. The holder
/// is a second process; what this process observes is the exception an open throws and the bytes /proc/locks lists.
/// </summary>
public class ImageLockTests
{
    /// <summary>A 1 MiB image of <paramref name="format"/> in <paramref name="dir"/>; an add-cow image needs
    /// base.raw there (its backing) and gets its own data file.</summary>
    internal static string Make(TempDir dir, string format, string name, string? backing = null)
    {
        var o = format == "fvd" ? ImageCreateOptions.Parse("block_size=4K") : new ImageCreateOptions();
        if (backing is not null) { o.BackingFile = backing; o.BackingFormat = "raw"; }
        if (format == "add-cow") { o.BackingFile ??= "base.raw"; o.Values["image_file"] = name + ".data"; }
        string path = dir.File(name);
        ImageFormats.Default.Create(format, path, 1 << 20, o).Dispose();
        return path;
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    [InlineData("irow")]
    [InlineData("fvd")]
    [InlineData("add-cow")]
    public void A_writer_in_another_process_refuses_writers_and_readers_but_not_force_share(string format)
    {
        using var dir = new TempDir();
        Make(dir, "raw", "base.raw");
        string image = Make(dir, format, "held." + format);
        using (new ImageHolder(image))
        {
            var w = Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(image, format));
            Assert.Contains("Failed to get \"write\" lock. Is another process using the image [", w.Message);
            var r = Assert.Throws<ImageLockedException>(() =>
                ImageFormats.Default.Open(image, format, new ImageOpenContext { ReadOnly = true }));
            Assert.Contains("Failed to get shared \"write\" lock", r.Message);
            using var shared = ImageFormats.Default.Open(image, format, new ImageOpenContext { ReadOnly = true, ForceShare = true });
            Assert.Equal(1 << 20, shared.Size);
        }
        // Closing the holder (its process ending) releases everything.
        using var again = ImageFormats.Default.Open(image, format);
        Assert.False(again.IsReadOnly);
    }

    [Fact]
    public void Irow_locks_its_current_btmp_and_irvd_files_as_qemu_locks_a_writer()
    {
        using var dir = new TempDir();
        string image = Make(dir, "irow", "d.irow");
        var files = Directory.GetFiles(dir.Path).Where(f => f.EndsWith(".btmp") || f.EndsWith(".irvd")).ToList();
        Assert.Equal(2, files.Count);
        using (new ImageHolder(image))
            foreach (var f in files)
                // 100 consistent read, 101 write, 103 resize held; 201 write and 203 resize not shared.
                Assert.Equal([100L, 101, 103, 201, 203], ImageHolder.LockedBytes(f));
        foreach (var f in files) Assert.Empty(ImageHolder.LockedBytes(f));
    }

    [Fact]
    public void A_backing_file_is_locked_shared_readers_may_open_it_writers_may_not()
    {
        using var dir = new TempDir();
        string baseImage = Make(dir, "raw", "base.raw");
        string overlay = Make(dir, "qcow2", "ov.qcow2", backing: "base.raw");
        using (new ImageHolder(overlay))
        {
            Assert.Equal([100L, 201, 203], ImageHolder.LockedBytes(baseImage));
            using (var reader = ImageFormats.Default.Open(baseImage, "raw", new ImageOpenContext { ReadOnly = true }))
                Assert.Equal(1 << 20, reader.Size);
            var e = Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(baseImage, "raw"));
            Assert.Contains("Failed to get \"write\" lock", e.Message);
        }
    }

    [Fact]
    public void Two_readers_in_different_processes_share_an_image()
    {
        using var dir = new TempDir();
        string image = Make(dir, "qcow2", "r.qcow2");
        using (new ImageHolder(image, readOnly: true))
        {
            using (var reader = ImageFormats.Default.Open(image, "qcow2", new ImageOpenContext { ReadOnly = true }))
                Assert.Equal(1 << 20, reader.Size);
            // The other process's reader refuses a writer (this process's own open, closed now, would not count).
            Assert.Contains("Failed to get \"write\" lock",
                Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(image, "qcow2")).Message);
        }
    }

    [Fact]
    public void Creating_over_an_image_another_process_holds_leaves_it_whole()
    {
        using var dir = new TempDir();
        string image = Make(dir, "raw", "keep.raw");
        File.WriteAllBytes(image, Enumerable.Repeat((byte)0x5A, 1 << 20).ToArray());
        using (new ImageHolder(image))
        {
            Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Create("qcow2", image, 1 << 20, new ImageCreateOptions()));
            Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Create("raw", image, 4096, new ImageCreateOptions()));
        }
        Assert.All(File.ReadAllBytes(image), b => Assert.Equal(0x5A, b));
    }
}
