using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

public class IrowLayoutTests
{
    private static readonly DateTimeOffset ExampleTime = DateTimeOffset.FromUnixTimeSeconds(1359188778).AddTicks(375000 * 10);

    [Fact]
    public void Worked_example_bytes_match_the_spec_dump()
    {
        var b = IrowBytes.WorkedExample();
        Assert.Equal(1740, b.Length);
        // irow.md §2.8 hex dump, line by line.
        Assert.Equal(Convert.FromHexString("49524f57000000010000000000000001"), b[0..16]);
        Assert.Equal(Convert.FromHexString("00010000000000100000008000000000"), b[16..32]);
        Assert.Equal(Convert.FromHexString("0000400000000000400000006469736b"), b[32..48]);
        Assert.Equal(Convert.FromHexString("534e4150"), b[0x22c..0x230]);
        Assert.Equal(Convert.FromHexString("000000002a930351c00b5a16"), b[0x6b0..0x6bc]);
    }

    [Fact]
    public void Created_image_has_exactly_the_worked_example_bytes()
    {
        using var dir = new TempDir();
        string meta = dir.File("disk.irow");
        using (var img = IrowImage.Create(meta, 1L << 30, new IrowCreateParameters(Now: ExampleTime), new ImageOpenContext()))
        {
            Assert.Equal(1L << 30, img.Size);
        }
        Assert.Equal(IrowBytes.WorkedExample(), File.ReadAllBytes(meta));
        Assert.Equal(new byte[2048], File.ReadAllBytes(dir.File("disk.irow-5103932a5b8d8.btmp")));
        Assert.Equal(1L << 30, new FileInfo(dir.File("disk.irow-5103932a5b8d8.irvd")).Length);
        Assert.Equal(3, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void Hand_built_worked_example_opens_with_its_geometry_and_takes_writes()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("disk.irow"), IrowBytes.WorkedExample());
        File.WriteAllBytes(dir.File("disk.irow-5103932a5b8d8.btmp"), new byte[2048]);
        using (var irvd = File.Create(dir.File("disk.irow-5103932a5b8d8.irvd"))) irvd.SetLength(1L << 30);
        using (var img = (IrowImage)ImageFormats.Default.Open(dir.File("disk.irow")))
        {
            Assert.Equal(1L << 30, img.Size);
            Assert.Equal(65536, img.ClusterSize);
            Assert.False(img.CopyOnDemand);
            Assert.Null(img.BackingFileName);
            Assert.Empty(img.ListSnapshots());
            Assert.Equal(ExtentKind.Unallocated, img.GetBlockStatus(0, img.Size).Kind);
            Assert.Equal(1L << 30, img.GetBlockStatus(0, img.Size).Length);
            img.Write((1L << 30) - 512, [0xEE]);
            Assert.True(img.Check().IsClean);
        }
        // The last cluster (16383) is bit 0x80 of byte 2047; the meta file is untouched by plain writes.
        var btmp = File.ReadAllBytes(dir.File("disk.irow-5103932a5b8d8.btmp"));
        Assert.Equal(0x80, btmp[2047]);
        Assert.Equal(2048, btmp.Length);
        Assert.Equal(IrowBytes.WorkedExample(), File.ReadAllBytes(dir.File("disk.irow")));
    }

    [Fact]
    public void Hand_built_image_reads_through_bitmap_lsb_first()
    {
        using var dir = new TempDir();
        // 4 clusters of 512 B; bit 0x01 (cluster 0) and 0x04 (cluster 2) set.
        File.WriteAllBytes(dir.File("d.irow"), IrowBytes.Meta(2048, 9, "d.btmp", "", false,
            new IrowBytes.Rec("0", "current state", "d.btmp", "d.irvd", "")));
        File.WriteAllBytes(dir.File("d.btmp"), [0x05]);
        var irvd = new byte[2048];
        for (int i = 0; i < 4; i++) Array.Fill(irvd, (byte)(0x10 + i), i * 512, 512);
        File.WriteAllBytes(dir.File("d.irvd"), irvd);
        using var img = ImageFormats.Default.Open(dir.File("d.irow"));
        Assert.Equal("irow", img.FormatName);
        var buf = new byte[2048];
        img.Read(0, buf);
        Assert.All(buf[0..512], x => Assert.Equal(0x10, x));
        Assert.All(buf[512..1024], x => Assert.Equal(0, x)); // clear bit: stale irvd bytes never show (§2.6)
        Assert.All(buf[1024..1536], x => Assert.Equal(0x12, x));
        Assert.All(buf[1536..2048], x => Assert.Equal(0, x));
    }

    [Fact]
    public void Flushed_write_sets_lsb_first_bit_and_keeps_btmp_length()
    {
        using var dir = new TempDir();
        string meta = dir.File("d.irow");
        // 10 clusters: total_clusters % 8 != 0, bitmap of 2 bytes.
        using (var img = IrowImage.Create(meta, 10 * 512, new IrowCreateParameters(ClusterBits: 9, Now: ExampleTime), new ImageOpenContext()))
        {
            img.Write(9 * 512 + 100, [1, 2, 3]);
            img.Write(3 * 512, new byte[512]);
            img.Flush();
        }
        var btmp = File.ReadAllBytes(dir.File("d.irow-5103932a5b8d8.btmp"));
        Assert.Equal(new byte[] { 0x08, 0x02 }, btmp);
    }

    [Fact]
    public void Probe_scores_iROW_magic_100_and_other_files_0()
    {
        var f = new IrowFormat();
        Assert.Equal(100, f.Probe(IrowBytes.WorkedExample(), "x"));
        Assert.Equal(0, f.Probe(IrowBytes.WorkedExample().AsSpan(0, 555), "x"));
        // An unknown version still probes as iROW, so the parser refuses it with one line instead of a raw open.
        var v2 = IrowBytes.WorkedExample();
        v2[7] = 2;
        Assert.Equal(100, f.Probe(v2, "x"));
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("v2.irow"), v2);
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Open(dir.File("v2.irow")).Dispose());
        Assert.Contains("version", e.Message);
    }
}
