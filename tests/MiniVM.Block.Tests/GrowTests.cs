using MiniVM.Block.Fvd;
using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests;

/// <summary>
/// `img resize` growth for iROW and FVD through IResizable: old data and snapshots (VM state included) survive, the
/// grown area reads as zeroes or as the backing where the format sends it there, every state file has its new
/// geometry on disk, the image reopens at the new size, and a shrink is refused without touching anything.
/// </summary>
public sealed class GrowTests
{
    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] Read(IBlockDriver image, long offset, int length)
    {
        var b = new byte[length];
        image.Read(offset, b);
        return b;
    }

    [Fact]
    public void Irow_grow_moves_every_btmp_to_the_new_bitmap_length_and_keeps_snapshots_and_their_vm_state()
    {
        using var dir = new TempDir();
        string path = dir.File("d.irow");
        byte[] first = Pattern(20000, 1), second = Pattern(5000, 2), vmState = Pattern(10000, 3);
        using (var img = IrowImage.Create(path, 64 * 1024, new IrowCreateParameters(ClusterBits: 12), new ImageOpenContext()))
        {
            img.Write(1000, first);
            img.CreateSnapshot("s1", 77, s => s.Write(vmState));
            img.Write(60000, second.AsSpan(0, 4000));
            img.Resize(1 << 20); // 16 clusters (2 bitmap bytes) to 256 (32 bytes): every btmp is rewritten
            Assert.Equal(1L << 20, img.Size);
            Assert.Equal(first, Read(img, 1000, first.Length));
            Assert.Equal(new byte[(1 << 20) - 65536], Read(img, 65536, (1 << 20) - 65536));
            img.Write((1 << 20) - 5000, second); // the grown area takes writes
        }
        string[] btmps = Directory.GetFiles(dir.Path, "*.btmp");
        Assert.Equal(2, btmps.Length); // the old ones are gone
        using (var img = IrowImage.Open(path, new ImageOpenContext()))
        {
            Assert.Equal(1L << 20, img.Size);
            Assert.True(img.Check().IsClean);
            Assert.Equal(first, Read(img, 1000, first.Length));
            Assert.Equal(second.AsSpan(0, 4000).ToArray(), Read(img, 60000, 4000));
            Assert.Equal(second, Read(img, (1 << 20) - 5000, second.Length));
            using (var s = img.OpenVmState("s1"))
            {
                var back = new byte[vmState.Length];
                s.ReadExactly(back);
                Assert.Equal(vmState, back);
            }
            img.RevertToSnapshot("s1");
            Assert.Equal(1L << 20, img.Size);
            Assert.Equal(first, Read(img, 1000, first.Length));
            Assert.Equal(new byte[4000], Read(img, 60000, 4000));
            Assert.Equal(new byte[5000], Read(img, (1 << 20) - 5000, 5000));
        }
        foreach (var b in Directory.GetFiles(dir.Path, "*.btmp"))
            Assert.True(new FileInfo(b).Length is 32 or 32 + 10000, $"{b} is {new FileInfo(b).Length} bytes");
    }

    [Fact]
    public void Irow_grow_within_the_last_bitmap_byte_reads_the_backing_past_the_old_end_and_refuses_to_shrink()
    {
        using var dir = new TempDir();
        byte[] baseBytes = Pattern(64 * 1024, 4);
        File.WriteAllBytes(dir.File("base.raw"), baseBytes);
        string path = dir.File("d.irow");
        using (var img = IrowImage.Create(path, 9 * 4096, new IrowCreateParameters(ClusterBits: 12, BackingFile: "base.raw"), new ImageOpenContext()))
        {
            img.Write(0, Pattern(512, 5));
            img.Resize(12 * 4096); // 9 clusters to 12: the bitmap stays 2 bytes
        }
        var meta = File.ReadAllBytes(path);
        using (var img = IrowImage.Open(path, new ImageOpenContext()))
        {
            Assert.Equal(12 * 4096L, img.Size);
            // The format's read rule: clusters no state holds read the backing file (irow.md §1).
            Assert.Equal(baseBytes.AsSpan(512, 12 * 4096 - 512).ToArray(), Read(img, 512, 12 * 4096 - 512));
            var e = Assert.Throws<ImageUnsupportedException>(() => img.Resize(4096));
            Assert.Contains("cannot shrink", e.Message);
        }
        Assert.Equal(meta, File.ReadAllBytes(path));
    }

    [Fact]
    public void Irow_grow_that_fails_before_the_meta_commit_leaves_the_old_disk_and_can_be_retried()
    {
        using var dir = new TempDir();
        string path = dir.File("d.irow");
        byte[] data = Pattern(9000, 9);
        using var img = IrowImage.Create(path, 64 * 1024, new IrowCreateParameters(ClusterBits: 12), new ImageOpenContext());
        img.Write(3000, data);
        img.CreateSnapshot("s1");
        // The new btmps get written, then the meta replace cannot create its temp file: the commit point is never reached.
        string blocker = IrowMetaFile.TempPathFor(path);
        Directory.CreateDirectory(blocker);
        var e = Assert.Throws<ImageFormatException>(() => img.Resize(1 << 20));
        Assert.StartsWith(path + ": ", e.Message); // the meta replace names what failed
        Assert.Equal(64 * 1024L, img.Size);
        Assert.Equal(data, Read(img, 3000, data.Length));
        using (var other = IrowImage.Open(path, new ImageOpenContext { ReadOnly = true }))
        {
            Assert.Equal(64 * 1024L, other.Size);
            Assert.Equal(data, Read(other, 3000, data.Length));
        }
        Directory.Delete(blocker);
        img.Resize(1 << 20);
        img.Write((1 << 20) - 100, data.AsSpan(0, 100));
        Assert.Equal(data, Read(img, 3000, data.Length));
        Assert.Equal(data.AsSpan(0, 100).ToArray(), Read(img, (1 << 20) - 100, 100));
    }

    [Fact]
    public void Fvd_grow_keeps_the_base_range_and_the_grown_area_reads_zeroes_from_the_data_area()
    {
        using var dir = new TempDir();
        byte[] baseBytes = Pattern(256 * 1024, 6);
        File.WriteAllBytes(dir.File("base.raw"), baseBytes);
        string path = dir.File("d.fvd");
        byte[] data = Pattern(3000, 7);
        using (var img = FvdImage.Create(path, 128 * 1024, new FvdCreateParameters { BackingFile = "base.raw", BackingFormat = "raw" }, new ImageOpenContext()))
        {
            img.Write(1000, data);
            img.Resize(1 << 20);
            img.Write((1 << 20) - 3000, data);
        }
        using (var img = FvdImage.Open(path, new ImageOpenContext()))
        {
            Assert.Equal(1L << 20, img.Size);
            Assert.True(img.Check().IsClean);
            Assert.Equal(data, Read(img, 1000, data.Length));
            Assert.Equal(baseBytes.AsSpan(4000, 128 * 1024 - 4000).ToArray(), Read(img, 4000, 128 * 1024 - 4000));
            // Past base_img_size every sector is in the data area (fvd.md §2.4): zeroes, though the base goes on.
            Assert.Equal(new byte[(1 << 20) - 128 * 1024 - 3000], Read(img, 128 * 1024, (1 << 20) - 128 * 1024 - 3000));
            Assert.Equal(data, Read(img, (1 << 20) - 3000, data.Length));
            Assert.Throws<ImageUnsupportedException>(() => img.Resize(128 * 1024));
        }
    }

    [Fact]
    public void Compact_fvd_grows_within_its_table_region_and_refuses_past_it()
    {
        using var dir = new TempDir();
        string path = dir.File("c.fvd");
        byte[] data = Pattern(70000, 8);
        using (var img = FvdImage.Create(path, 1 << 20, new FvdCreateParameters { CompactImage = true, ChunkSize = 64 * 1024 }, new ImageOpenContext()))
        {
            img.Write(0, data);
            img.Resize(64L << 20); // 16 entries to 1024: still one 4 KiB table page
            img.Write((64L << 20) - data.Length, data);
            var e = Assert.Throws<ImageUnsupportedException>(() => img.Resize(65L << 20));
            Assert.Contains("within its table", e.Message);
            Assert.Equal(64L << 20, img.Size);
        }
        using (var img = FvdImage.Open(path, new ImageOpenContext()))
        {
            Assert.Equal(64L << 20, img.Size);
            Assert.True(img.Check().IsClean);
            Assert.Equal(data, Read(img, 0, data.Length));
            Assert.Equal(data, Read(img, (64L << 20) - data.Length, data.Length));
            Assert.Equal(new byte[1 << 20], Read(img, 32L << 20, 1 << 20));
        }
    }
}
