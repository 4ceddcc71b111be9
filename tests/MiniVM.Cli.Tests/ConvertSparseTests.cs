using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Issue #7: `img convert` leaves no allocation where the source reads zeroes (block status and a scan of the data in
/// `-S` blocks, as qemu-img convert), and over a target backing (`-B`, `-o backing_file`) it still makes zeroes read
/// as zeroes where that backing holds data.
/// </summary>
public sealed class ConvertSparseTests : IDisposable
{
    private const int Size = 4 << 20;
    private const int Cluster = 64 << 10;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Targets() => new(FormatMatrixTests.Formats);

    public static TheoryData<string> OverlayTargets() => new(["irow", "qcow2", "qcow3", "add-cow", "fvd"]);

    /// <summary>Non-zero bytes of the source; everything else is zero bytes written into the file (no holes).</summary>
    private static readonly (int Offset, int Length, byte Value)[] SourceData =
    [
        (0, 512, 0x11),            // cluster 0, one sector
        (70000, 100, 0x22),        // cluster 1, unaligned
        (1 << 20, 8192, 0x33),     // cluster 16
        (3 << 20, Cluster, 0x44),  // cluster 48, whole
    ];

    private static readonly HashSet<long> DataClusters = [0, 1, 16, 48];

    /// <summary>A raw file whose zeroes are real zero bytes, so the host reports it all as data: only the scan finds them.</summary>
    private string DenseSource(string name)
    {
        var bytes = new byte[Size];
        foreach (var (offset, length, value) in SourceData) bytes.AsSpan(offset, length).Fill(value);
        string f = _dir.File(name);
        File.WriteAllBytes(f, bytes);
        return f;
    }

    private string EmptyRaw(string name)
    {
        string f = _dir.File(name);
        CliResult.Run("img", "create", "-f", "raw", f, "4M").AssertSuccess();
        return f;
    }

    private static List<(long Start, long Length, int Depth, bool Data)> Map(string file)
    {
        var map = CliResult.Run("img", "map", "--output", "json", file);
        map.AssertSuccess();
        using var doc = JsonDocument.Parse(map.Out);
        var runs = new List<(long, long, int, bool)>();
        foreach (var e in doc.RootElement.EnumerateArray())
            runs.Add((e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("depth").GetInt32(),
                e.GetProperty("data").GetBoolean()));
        return runs;
    }

    /// <summary>The clusters that hold data in the top layer, by `img map`.</summary>
    private static SortedSet<long> TopDataClusters(string file)
    {
        var clusters = new SortedSet<long>();
        foreach (var (start, length, depth, data) in Map(file))
            if (data && depth == 0)
                for (long c = start / Cluster; c <= (start + length - 1) / Cluster; c++) clusters.Add(c);
        return clusters;
    }

    private static void AssertIdentical(string a, string b)
    {
        var same = CliResult.Run("img", "compare", a, b);
        Assert.True(same.ExitCode == 0, $"compare {a} {b}: exit {same.ExitCode} {same.Out} {same.Err}");
        Assert.Equal("Images are identical.", same.OutLines.Single());
    }

    private string[] ConvertArgs(string to, string src, string dst, params string[] extra)
    {
        var args = new List<string> { "img", "convert", "-O", to };
        args.AddRange(extra);
        // add-cow only exists over a base: an all-zero (sparse) raw one, which reads as zeroes like a new image.
        if (to == "add-cow" && !extra.Contains("-B"))
        {
            args.Add("-o");
            args.Add($"backing_file={Path.GetFileName(EmptyRaw("dst-base.raw"))}");
        }
        args.Add(src);
        args.Add(dst);
        return [.. args];
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Zero_clusters_of_the_source_stay_unallocated_in_every_target(string to)
    {
        string src = DenseSource("src.raw");
        string dst = _dir.File("dst." + to);
        CliResult.Run(ConvertArgs(to, src, dst)).AssertSuccess();

        AssertIdentical(src, dst);
        Assert.Equal(DataClusters, TopDataClusters(dst));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Zero_scan_finds_zero_blocks_inside_data_written_through_an_image(string to)
    {
        // The same content, but written into a qcow2 as whole 1 MiB runs of data (zeroes included): block status
        // says data everywhere, so only the scan of the read bytes can leave the zero clusters out.
        string dense = DenseSource("dense.raw");
        string src = _dir.File("src.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", src, "4M").AssertSuccess();
        using (var image = MiniVM.Block.ImageFormats.Default.Open(src, "qcow2", new MiniVM.Block.ImageOpenContext()))
        {
            var bytes = File.ReadAllBytes(dense);
            image.Write(0, bytes);
            image.Flush();
        }
        Assert.Equal(Size / Cluster, TopDataClusters(src).Count);

        string dst = _dir.File("dst." + to);
        CliResult.Run(ConvertArgs(to, src, dst)).AssertSuccess();
        AssertIdentical(src, dst);
        Assert.Equal(DataClusters, TopDataClusters(dst));
    }

    [Fact]
    public void Sparse_size_zero_allocates_every_cluster_and_a_large_one_keeps_small_zero_runs()
    {
        string src = DenseSource("src.raw");

        string full = _dir.File("full.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", "-S", "0", src, full).AssertSuccess();
        AssertIdentical(src, full);
        Assert.Equal(Size / Cluster, TopDataClusters(full).Count);

        // -S 2M: both 2 MiB blocks hold some data, so nothing is skipped. -S 128k: a block spans two clusters, so
        // clusters 2..15 are skipped but the zero clusters 17 and 49 are written with their non-zero neighbours.
        string big = _dir.File("big.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", "-S", "2M", src, big).AssertSuccess();
        AssertIdentical(src, big);
        Assert.Equal(Size / Cluster, TopDataClusters(big).Count);

        string mid = _dir.File("mid.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", "-S", "128k", src, mid).AssertSuccess();
        AssertIdentical(src, mid);
        Assert.Equal(new SortedSet<long> { 0, 1, 16, 17, 48, 49 }, TopDataClusters(mid));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("128k")]
    [InlineData("0")]
    public void A_qcow2_target_allocates_the_clusters_qemu_img_convert_allocates(string? sparse)
    {
        string src = DenseSource("src.raw");
        string ours = _dir.File("ours.qcow2");
        string theirs = _dir.File("theirs.qcow2");
        string[] sparseArgs = sparse is null ? [] : ["-S", sparse];
        CliResult.Run([.. new[] { "img", "convert", "-O", "qcow2" }, .. sparseArgs, src, ours]).AssertSuccess();
        QemuImg.Img([.. new[] { "convert", "-f", "raw", "-O", "qcow2" }, .. sparseArgs, src, theirs]);

        AssertIdentical(theirs, ours);
        Assert.Equal(TopDataClusters(theirs), TopDataClusters(ours));
    }

    [Fact]
    public void Convert_allocates_nothing_per_chunk()
    {
        // Every 64 KiB cluster starts with 4 KiB of data and is zero after it, so each 1 MiB chunk is scanned, split
        // and written in 16 pieces. Eight times the disk costs the same allocation (measured: equal to the byte), so
        // 32 KiB is only a margin for the runtime's own tier-up; even 4 KiB per chunk would add up to 224 KiB.
        string Source(string name, int mib)
        {
            var bytes = new byte[mib << 20];
            for (int c = 0; c < bytes.Length; c += Cluster) bytes.AsSpan(c, 4096).Fill((byte)(1 + c / Cluster % 200));
            string f = _dir.File(name);
            File.WriteAllBytes(f, bytes);
            return f;
        }
        string small = Source("small.raw", 8), large = Source("large.raw", 64);
        long Allocated(string src, string dst)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            CliResult.Run("img", "convert", "-O", "raw", src, _dir.File(dst)).AssertSuccess();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Allocated(small, "warm.raw");
        long a8 = Allocated(small, "s.raw");
        long a64 = Allocated(large, "l.raw");
        AssertIdentical(large, _dir.File("l.raw"));
        Assert.True(a64 - a8 < 32 << 10, $"convert of 8 MiB allocated {a8} bytes, of 64 MiB {a64} bytes");
    }

    [Theory]
    [InlineData("1000")]
    [InlineData("32M")]
    [InlineData("x")]
    public void Bad_sparse_size_is_a_usage_error_and_creates_nothing(string size)
    {
        string src = DenseSource("src.raw");
        string dst = _dir.File("dst.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", "-S", size, src, dst).AssertOneError(ExitCodes.Usage, size);
        Assert.False(File.Exists(dst));
    }

    [Theory]
    [MemberData(nameof(OverlayTargets))]
    public void Zeroes_over_backing_data_are_written_when_the_target_has_a_backing_file(string to)
    {
        // The target's base is all 0xaa; the source is a flat disk that is zero except cluster 16 and a few runs.
        string baseFile = _dir.File("base.raw");
        var fill = new byte[Size];
        fill.AsSpan().Fill(0xaa);
        File.WriteAllBytes(baseFile, fill);
        string src = DenseSource("src.raw");
        string dst = _dir.File("dst." + to);

        CliResult.Run("img", "convert", "-O", to, "-B", "base.raw", "-F", "raw", src, dst).AssertSuccess();

        AssertIdentical(src, dst);
        CliResult.Run("io", "-c", "read -P 0 1024k 0", "-c", "read -P 0 512 69488", "-c", "read -P 0x33 1024k 8k",
            "-c", "read -P 0 1056k 1984k", "-c", "read -P 0x44 3M 64k", "-c", "read -P 0 3136k 960k", dst).AssertSuccess();
        var info = CliResult.Run("img", "info", "--output", "json", dst);
        info.AssertSuccess();
        using var doc = JsonDocument.Parse(info.Out);
        Assert.Equal("base.raw", doc.RootElement.GetProperty("backing-filename").GetString());
    }

    [Fact]
    public void Zeroes_over_backing_data_given_with_o_backing_file_are_written_too()
    {
        string baseFile = _dir.File("base.raw");
        var fill = new byte[Size];
        fill.AsSpan().Fill(0xaa);
        File.WriteAllBytes(baseFile, fill);
        string src = DenseSource("src.raw");
        string dst = _dir.File("dst.irow");

        CliResult.Run("img", "convert", "-O", "irow", "-o", "backing_file=base.raw,backing_fmt=raw", src, dst).AssertSuccess();
        AssertIdentical(src, dst);
    }

    [Theory]
    [MemberData(nameof(OverlayTargets))]
    public void With_B_only_the_top_layer_of_an_overlay_is_copied(string to)
    {
        // base: 0x55 everywhere; source: a qcow2 overlay writing cluster 16 and zeroing cluster 32 over the base.
        string baseFile = _dir.File("base.raw");
        var fill = new byte[Size];
        fill.AsSpan().Fill(0x55);
        File.WriteAllBytes(baseFile, fill);
        string src = _dir.File("src.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", src).AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x66 1M 64k", "-c", "write -z 2M 64k", src).AssertSuccess();
        string dst = _dir.File("dst." + to);

        CliResult.Run("img", "convert", "-O", to, "-B", "base.raw", src, dst).AssertSuccess();

        AssertIdentical(src, dst);
        CliResult.Run("io", "-c", "read -P 0x55 0 1M", "-c", "read -P 0x66 1M 64k", "-c", "read -P 0 2M 64k",
            "-c", "read -P 0x55 2112k 1984k", dst).AssertSuccess();
        // The top layer holds cluster 16 (and, for formats without a zero flag, the zeroed cluster 32); the rest of
        // the disk is the base's, depth 1.
        var top = TopDataClusters(dst);
        Assert.Contains(16L, top);
        Assert.True(top.IsSubsetOf([16L, 32L]), $"{to}: top layer holds clusters {string.Join(",", top)}");
        Assert.Contains(Map(dst), r => r.Depth == 1 && r.Data && r.Start == 0);
    }

    [Fact]
    public void B_errors_are_usage_errors_that_create_nothing()
    {
        string src = DenseSource("src.raw");
        string dst = _dir.File("dst.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", "-F", "raw", src, dst).AssertOneError(ExitCodes.Usage, "-F needs -B");
        CliResult.Run("img", "convert", "-O", "qcow2", "-B", "src.raw", "-o", "backing_file=src.raw", src, dst)
            .AssertOneError(ExitCodes.Usage, "-B and -o backing_file");
        CliResult.Run("img", "convert", "-O", "qcow2", "-B", "nosuch.raw", src, dst).AssertOneError(ExitCodes.NoSuchFile, "nosuch.raw");
        Assert.False(File.Exists(dst));
        CliResult.Run("img", "convert", "-O", "raw", "-B", "src.raw", src, _dir.File("dst.raw"))
            .AssertOneError(ExitCodes.ImageFormat, "backing file");
    }
}
