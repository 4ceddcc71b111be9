namespace MiniVM.Block.Tests;

/// <summary>
/// Locking within one process (ImageLock's open table): a second open of an image this process already holds is
/// refused as another process's would be (a monitor or in-process tool opening a running VM's disk), while what QEMU
/// lets share still shares and a driver's own reopens of its files keep working.
/// </summary>
public class ImageLockInProcessTests
{
    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    [InlineData("irow")]
    [InlineData("fvd")]
    [InlineData("add-cow")]
    public void A_second_open_of_a_held_image_is_refused_as_another_process_would_be(string format)
    {
        using var dir = new TempDir();
        ImageLockTests.Make(dir, "raw", "base.raw");
        string image = ImageLockTests.Make(dir, format, "disk." + format);
        using (var vm = ImageFormats.Default.Open(image, format))
        {
            vm.Write(0, new byte[] { 1, 2, 3 });
            var w = Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(image, format));
            Assert.Contains("Failed to get \"write\" lock. Is another process using the image [", w.Message);
            var r = Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(image, format, new ImageOpenContext { ReadOnly = true }));
            Assert.Contains("Failed to get shared \"write\" lock", r.Message);
            using (var peek = ImageFormats.Default.Open(image, format, new ImageOpenContext { ReadOnly = true, ForceShare = true }))
            {
                var b = new byte[3];
                peek.Read(0, b);
                Assert.Equal(new byte[] { 1, 2, 3 }, b);
            }
            // The holder still works after the refusals.
            vm.Write(4096, new byte[] { 9 });
            vm.Flush();
        }
        using var after = ImageFormats.Default.Open(image, format);
        Assert.False(after.IsReadOnly);
    }

    [Fact]
    public void A_reader_in_the_same_process_refuses_a_writer()
    {
        using var dir = new TempDir();
        string image = ImageLockTests.Make(dir, "qcow2", "r.qcow2");
        using var reader = ImageFormats.Default.Open(image, "qcow2", new ImageOpenContext { ReadOnly = true });
        using var second = ImageFormats.Default.Open(image, "qcow2", new ImageOpenContext { ReadOnly = true });
        Assert.Contains("Failed to get \"write\" lock",
            Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(image, "qcow2")).Message);
    }

    [Fact]
    public void Overlays_in_the_same_process_share_their_backing_file_read_only_but_it_cannot_be_written()
    {
        using var dir = new TempDir();
        string baseImage = ImageLockTests.Make(dir, "raw", "base.raw");
        string a = ImageLockTests.Make(dir, "qcow2", "a.qcow2", backing: "base.raw");
        string b = ImageLockTests.Make(dir, "irow", "b.irow", backing: "base.raw");
        using var first = ImageFormats.Default.Open(a, "qcow2");
        using var second = ImageFormats.Default.Open(b, "irow");
        using (var reader = ImageFormats.Default.Open(baseImage, "raw", new ImageOpenContext { ReadOnly = true }))
            Assert.Equal(1 << 20, reader.Size);
        Assert.Contains("Failed to get \"write\" lock",
            Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(baseImage, "raw")).Message);
    }

    [Fact]
    public void Irow_reopens_its_own_state_files_through_snapshots_while_it_holds_them()
    {
        using var dir = new TempDir();
        string image = ImageLockTests.Make(dir, "irow", "s.irow");
        using var img = ImageFormats.Default.Open(image, "irow");
        var store = (ISnapshotStore)img;
        img.Write(0, new byte[] { 1 });
        store.CreateSnapshot("one");
        img.Write(0, new byte[] { 2 });
        store.CreateSnapshot("two");
        store.RevertToSnapshot("one");
        var b = new byte[1];
        img.Read(0, b);
        Assert.Equal(1, b[0]);
        store.DeleteSnapshot("two");
        var check = ((IImageCheck)img).Check();
        Assert.True(check.Corruptions == 0, string.Join("; ", check.Messages));
        // And the meta file, replaced by every step, is still this writer's: a second open is refused.
        Assert.Throws<ImageLockedException>(() => ImageFormats.Default.Open(image, "irow", new ImageOpenContext { ReadOnly = true }));
    }
}
