using System.Text.Json;
using MiniVM.Block;

namespace MiniVM.Cli.Tests;

/// <summary>
/// `img measure` for the formats qemu-img cannot read, checked as qemu-img's iotests check qcow2 (iotest 178): convert
/// a source into the format, and the image's files hold no more data than `required size`; write every byte of an
/// empty image, and its files are exactly `fully allocated size` long. The `bitmaps size` line is diffed against
/// qemu-img for qcow2 sources.
/// </summary>
public sealed class MeasureFormatTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private const long DiskSize = 10 << 20;

    public void Dispose() => _dir.Dispose();

    private string Source()
    {
        string f = _dir.File("src.raw");
        var block = new byte[70_000];
        new Random(16).NextBytes(block);
        using var fs = File.Create(f);
        fs.SetLength(DiskSize);
        foreach (long at in new long[] { 0, 700_000, 5L << 20, DiskSize - block.Length })
        {
            fs.Position = at;
            fs.Write(block);
        }
        return f;
    }

    private static (long Required, long Full) Measure(params string[] args)
    {
        var r = CliResult.Run(["img", "measure", "--output", "json", .. args]);
        r.AssertSuccess();
        var j = JsonDocument.Parse(r.Out).RootElement;
        return (j.GetProperty("required").GetInt64(), j.GetProperty("fully-allocated").GetInt64());
    }

    /// <summary>Bytes the host file system stores for the files of a folder: their data extents (SEEK_DATA/SEEK_HOLE).</summary>
    private static long DataBytes(string folder)
    {
        long total = 0;
        foreach (string f in Directory.GetFiles(folder))
        {
            using var h = File.OpenHandle(f);
            long len = RandomAccess.GetLength(h);
            for (long at = 0; at < len;)
            {
                Assert.True(HostFile.TryGetAllocation(h, at, len, out bool data, out long end), "the test needs SEEK_DATA");
                if (data) total += end - at;
                at = end;
            }
        }
        return total;
    }

    private static long Lengths(string folder) => Directory.GetFiles(folder).Sum(f => new FileInfo(f).Length);

    [Theory]
    [InlineData("irow", "")]
    [InlineData("irow", "cluster_size=4k")]
    [InlineData("add-cow", "")]
    [InlineData("fvd", "")]
    [InlineData("fvd", "data_file=disk.data")]
    [InlineData("fvd", "compact_image=on")]
    [InlineData("fvd", "compact_image=on,chunk_size=256k,storage_grow_unit=1M,journal_size=1M")]
    public void Measure_bounds_a_converted_image_and_equals_a_fully_written_one(string format, string options)
    {
        string src = Source();
        string baseRaw = _dir.File("base.raw");
        using (var b = File.Create(baseRaw)) b.SetLength(DiskSize);
        string[] opt = options.Length > 0 ? ["-o", options] : [];
        string[] backing = format == "add-cow" ? ["-B", baseRaw, "-F", "raw"] : [];

        var fromFile = Measure(["-O", format, .. opt, "-f", "raw", src]);
        var empty = Measure(["-O", format, .. opt, "--size", "10M"]);
        Assert.Equal(empty.Full, fromFile.Full);
        Assert.True(fromFile.Required > empty.Required, $"{fromFile.Required} <= {empty.Required}: the source's data is not counted");

        string converted = Directory.CreateDirectory(_dir.File("converted")).FullName;
        string image = Path.Combine(converted, "disk." + format);
        CliResult.Run(["img", "convert", "-f", "raw", "-O", format, .. opt, .. backing, src, image]).AssertSuccess();
        CliResult.Run("img", "compare", "-f", "raw", src, image).AssertSuccess();
        long stored = DataBytes(converted);
        Assert.True(stored <= fromFile.Required, $"{format} {options}: the converted image stores {stored} bytes, measure said {fromFile.Required}");

        string full = Directory.CreateDirectory(_dir.File("full")).FullName;
        string disk = Path.Combine(full, "disk." + format);
        string[] create = format == "add-cow" ? ["-b", baseRaw, "-F", "raw"] : [];
        CliResult.Run(["img", "create", "-f", format, .. opt, .. create, disk, "10M"]).AssertSuccess();
        Assert.True(DataBytes(full) <= empty.Required, $"an empty {format} stores {DataBytes(full)} bytes, measure --size said {empty.Required}");
        CliResult.Run("io", "-c", $"write -P 0x5a 0 {DiskSize}", disk).AssertSuccess();
        Assert.Equal(empty.Full, Lengths(full));
    }

    [Fact]
    public void Measure_of_an_image_too_large_or_badly_optioned_is_one_line()
    {
        CliResult.Run("img", "measure", "-O", "irow", "-o", "cluster_size=3k", "--size", "1M").AssertOneError(64, "cluster_size");
        CliResult.Run("img", "measure", "-O", "add-cow", "--size", "3T").AssertOneError(64, "larger than add-cow's");
        CliResult.Run("img", "measure", "-O", "fvd", "-o", "chunk_size=2G,compact_image=on", "--size", "1M").AssertOneError(64, "chunk_size");
        CliResult.Run("img", "measure", "-O", "fvd", "-o", "nonsense=1", "--size", "1M").AssertOneError(64, "nonsense");
    }

    [Fact]
    public void Bitmaps_size_equals_qemu_img_for_qcow2_sources()
    {
        string v3 = _dir.File("v3.qcow2"), v2 = _dir.File("v2.qcow2"), marked = _dir.File("marked.qcow2"), raw = _dir.File("r.raw");
        QemuImg.Img("create", "-q", "-f", "qcow2", v3, "10M");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "10M");
        QemuImg.Img("create", "-q", "-f", "qcow2", marked, "100M");
        QemuImg.Img("create", "-q", "-f", "raw", raw, "10M");
        QemuImg.Img("bitmap", "--add", marked, "b1");
        QemuImg.Img("bitmap", "--add", "-g", "4096", marked, "a-rather-long-bitmap-name-to-pad");
        QemuImg.Img("bitmap", "--add", "--disable", "-g", "1M", marked, "b3");
        foreach (string src in new[] { v3, v2, marked, raw })
            foreach (string[] opt in new[] { Array.Empty<string>(), ["-o", "compat=0.10"], ["-o", "cluster_size=4k"], ["-o", "cluster_size=2M,refcount_bits=1"] })
                foreach (string output in new[] { "human", "json" })
                {
                    string[] args = ["measure", "-O", "qcow2", .. opt, "--output", output, src];
                    var ours = CliResult.Run(["img", .. args]);
                    ours.AssertSuccess();
                    string theirs = QemuImg.Img(args).Out;
                    if (output == "human") Assert.Equal(theirs, ours.Out);
                    else Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(theirs),
                        System.Text.Json.Nodes.JsonNode.Parse(ours.Out)), $"{theirs} vs {ours.Out}");
                }
        // Three bitmaps of one data cluster and one table cluster each, and the directory's cluster.
        Assert.Contains("bitmaps size: 458752", CliResult.Run("img", "measure", "-O", "qcow2", marked).Out);
        Assert.DoesNotContain("bitmaps", CliResult.Run("img", "measure", "-O", "qcow2", "--size", "1M").Out);
    }
}
