using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

public class IrowIoTests
{
    private static IrowImage NewImage(TempDir dir, long size, int clusterBits = 12, string name = "d.irow", string? backing = null) =>
        IrowImage.Create(dir.File(name), size, new IrowCreateParameters(ClusterBits: clusterBits, BackingFile: backing), new ImageOpenContext());

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] ReadAll(IBlockDriver img)
    {
        var b = new byte[img.Size];
        img.Read(0, b);
        return b;
    }

    [Theory]
    [InlineData(9)]
    [InlineData(12)]
    [InlineData(16)]
    public void Partial_writes_match_a_shadow_model_across_snapshots_and_reopen(int clusterBits)
    {
        using var dir = new TempDir();
        long size = (1L << clusterBits) * 13 + 512 * 3; // not a cluster multiple
        var shadow = new byte[size];
        var rng = new Random(clusterBits);
        using (var img = NewImage(dir, size, clusterBits))
        {
            for (int round = 0; round < 3; round++)
            {
                for (int i = 0; i < 40; i++)
                {
                    long off = rng.NextInt64(size);
                    int len = (int)Math.Min(size - off, rng.Next(1, (int)(3L << clusterBits)));
                    var data = Pattern(len, rng.Next());
                    img.Write(off, data);
                    data.CopyTo(shadow, off);
                }
                Assert.Equal(shadow, ReadAll(img));
                img.CreateSnapshot("s" + round);
            }
        }
        using var again = ImageFormats.Default.Open(dir.File("d.irow"));
        Assert.Equal(shadow, ReadAll(again));
    }

    [Fact]
    public void Writes_at_start_end_both_ends_and_inside_one_cluster_keep_father_bytes()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 8 * 4096);
        var baseData = Pattern(8 * 4096, 1);
        img.Write(0, baseData);
        img.CreateSnapshot("base");
        var shadow = (byte[])baseData.Clone();
        void W(long off, int len, int seed) { var d = Pattern(len, seed); img.Write(off, d); d.CopyTo(shadow, off); }
        W(4096, 100, 2);            // start of cluster 1
        W(3 * 4096 - 50, 50, 3);     // end of cluster 2
        W(4 * 4096 + 7, 4096, 4);    // spans clusters 4 and 5, both partial
        W(6 * 4096 + 1000, 10, 5);   // inside cluster 6
        Assert.Equal(shadow, ReadAll(img));
    }

    [Fact]
    public void Backing_file_shorter_than_disk_reads_then_zeroes()
    {
        using var dir = new TempDir();
        var backingData = Pattern(3 * 4096 + 512, 7);
        File.WriteAllBytes(dir.File("base.raw"), backingData);
        using var img = NewImage(dir, 8 * 4096, backing: "base.raw");
        Assert.Equal("base.raw", img.BackingFileName);
        var all = ReadAll(img);
        Assert.Equal(backingData, all[..backingData.Length]);
        Assert.All(all[backingData.Length..], b => Assert.Equal(0, b));
        img.Write(4096 + 10, [9, 9]); // copy-up from the backing image
        img.CreateSnapshot("a");
        img.Write(3 * 4096 + 100, [8]); // copy-up of the cluster the backing file ends inside
        backingData[4096 + 10] = 9; backingData[4096 + 11] = 9; backingData[3 * 4096 + 100] = 8;
        all = ReadAll(img);
        Assert.Equal(backingData, all[..backingData.Length]);
        Assert.All(all[backingData.Length..], b => Assert.Equal(0, b));
        Assert.Equal(ExtentKind.Unallocated, img.GetBlockStatus(0, 4096).Kind);
        Assert.Equal(ExtentKind.Data, img.GetBlockStatus(4096, 4096).Kind);
    }

    [Fact]
    public void Backing_file_in_a_subfolder_is_stored_as_given_like_qemu_img()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("sub"));
        File.WriteAllBytes(dir.File("sub/base.raw"), Enumerable.Repeat((byte)7, 4096).ToArray());
        using var ok = IrowImage.Create(dir.File("u.irow"), 4096, new IrowCreateParameters(BackingFile: "sub/base.raw"),
            new ImageOpenContext());
        Assert.Equal("sub/base.raw", ok.BackingFileName);
        var b = new byte[4096];
        ok.Read(0, b);
        Assert.All(b, x => Assert.Equal(7, x));
    }

    [Fact]
    public void Backing_format_that_disagrees_with_the_probe_is_refused()
    {
        using var dir = new TempDir();
        using (NewImage(dir, 4096, name: "base.irow")) { }
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Create("irow", dir.File("top.irow"), 4096,
            new ImageCreateOptions { BackingFile = "base.irow", BackingFormat = "raw" }));
        Assert.Contains("probes as irow", e.Message);
    }

    [Fact]
    public void Write_zeroes_reads_zero_over_father_data_and_discard_too()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 16 * 4096);
        img.Write(0, Pattern(16 * 4096, 3));
        img.CreateSnapshot("s");
        img.WriteZeroes(100, 5 * 4096);
        img.Discard(10 * 4096, 4096);
        var all = ReadAll(img);
        Assert.All(all[100..(100 + 5 * 4096)], b => Assert.Equal(0, b));
        Assert.All(all[(10 * 4096)..(11 * 4096)], b => Assert.Equal(0, b));
        Assert.NotEqual(0, all[99]);
        Assert.NotEqual(0, all[11 * 4096]);
        var zeroed = img.GetBlockStatus(4096, 4096);
        Assert.Equal(ExtentKind.Zero, zeroed.Kind); // whole zeroed clusters are holes in the current irvd
        Assert.Equal(ExtentKind.Data, img.GetBlockStatus(0, 4096).Kind);
        img.RevertToSnapshot("s");
        Assert.Equal(Pattern(16 * 4096, 3), ReadAll(img));
    }

    [Fact]
    public void Two_images_open_at_once_do_not_share_data()
    {
        using var dir = new TempDir();
        using var a = NewImage(dir, 8192, 9, "a.irow");
        using var b = NewImage(dir, 8192, 16, "b.irow");
        a.Write(0, Pattern(8192, 1));
        b.Write(0, Pattern(8192, 2));
        Assert.Equal(Pattern(8192, 1), ReadAll(a));
        Assert.Equal(Pattern(8192, 2), ReadAll(b));
    }

    [Fact]
    public void Read_only_open_refuses_writes_with_an_image_error()
    {
        using var dir = new TempDir();
        using (NewImage(dir, 8192)) { }
        using var ro = ImageFormats.Default.Open(dir.File("d.irow"), context: new ImageOpenContext { ReadOnly = true });
        var e = Assert.Throws<ImageFormatException>(() => ro.Write(0, [1]));
        Assert.Contains("read-only", e.Message);
    }

    [Fact]
    public void Copy_on_demand_fills_the_current_state_until_the_chain_is_not_needed()
    {
        using var dir = new TempDir();
        var data = Pattern(8 * 4096, 5);
        using (var img = IrowImage.Create(dir.File("c.irow"), 8 * 4096, new IrowCreateParameters(ClusterBits: 12, CopyOnDemand: true), new ImageOpenContext()))
        {
            img.Write(0, data);
            img.CreateSnapshot("s");
            Assert.Equal(ExtentKind.Data, img.GetBlockStatus(0, 4096).Kind);
            Assert.Equal(data, ReadAll(img)); // this read copies every cluster up
            img.Flush();
        }
        var btmps = Directory.GetFiles(dir.Path, "*.btmp");
        Assert.Equal(2, btmps.Length);
        Assert.All(btmps, f => Assert.Equal(new byte[] { 0xFF }, File.ReadAllBytes(f)));
    }
}
