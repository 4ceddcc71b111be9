using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Issue #7, "everywhere": every registered format as a convert source and target, compared byte for byte
/// with `img compare`; map and info on each; a mixed iROW → qcow2 → raw chain read through the top.
/// </summary>
public sealed class FormatMatrixTests : IDisposable
{
    private const string Size = "4M";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Every writable format the CLI creates. qcow3 is qcow2 version 3 (user metadata).</summary>
    public static readonly string[] Formats = ["raw", "irow", "qcow2", "qcow3", "add-cow", "fvd"];

    public static TheoryData<string> EachFormat()
    {
        var data = new TheoryData<string>();
        foreach (string f in Formats) data.Add(f);
        return data;
    }

    public static TheoryData<string, string> EachPair()
    {
        var data = new TheoryData<string, string>();
        foreach (string from in Formats)
            foreach (string to in Formats)
                if (from != to) data.Add(from, to);
        return data;
    }

    /// <summary>The guest-visible content written into every source: unaligned runs, a cluster-crossing run,
    /// an explicit zero run over data, and data near the end of the disk.</summary>
    private static readonly string[] Writes =
    [
        "write -P 0x5a 0 64k",
        "write -P 0xa1 70000 5000",
        "write -P 0x3c 1000k 200k",
        "write -z 1050k 8k",
        "write -P 0xee 4092k 4k",
    ];

    private static readonly string[] Reads =
    [
        "read -P 0x5a 0 64k",
        "read -P 0 64k 4464",
        "read -P 0xa1 70000 5000",
        "read -P 0x3c 1000k 50k",
        "read -P 0 1050k 8k",
        "read -P 0x3c 1058k 142k",
        "read -P 0 1200k 100k",
        "read -P 0xee 4092k 4k",
    ];

    private static string[] IoArgs(string[] commands, string file)
    {
        var args = new List<string> { "io" };
        foreach (string c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(file);
        return [.. args];
    }

    /// <summary>An empty raw disk of the matrix size, for the formats that only exist over a backing file.</summary>
    private string EmptyBase(string name)
    {
        string b = _dir.File(name);
        if (!File.Exists(b)) CliResult.Run("img", "create", "-f", "raw", b, Size).AssertSuccess();
        return b;
    }

    /// <summary>add-cow has no image without a base (add-cow.md: the base is part of the format), so it is
    /// created over a raw base; that base holds data of its own where the overlay does not write, so a
    /// convert from add-cow must flatten base and overlay. fvd stands alone (its base is optional).</summary>
    private string NewSource(string format)
    {
        string f = _dir.File("src." + format);
        if (format == "add-cow")
        {
            string b = _dir.File("src-base.raw");
            CliResult.Run("img", "create", "-f", "raw", b, Size).AssertSuccess();
            // Base data under the overlay's later writes and outside them: both must reach the target.
            CliResult.Run("io", "-c", "write -P 0x77 2048k 64k", "-c", "write -P 0x3c 1000k 200k", b).AssertSuccess();
            CliResult.Run("img", "create", "-f", "add-cow", "-b", Path.GetFileName(b), "-F", "raw", f).AssertSuccess();
        }
        else
        {
            CliResult.Run("img", "create", "-f", format, f, Size).AssertSuccess();
        }
        CliResult.Run(IoArgs(Writes, f)).AssertSuccess();
        return f;
    }

    private static string[] ReadsFor(string sourceFormat) => sourceFormat == "add-cow"
        ? [.. Reads, "read -P 0x77 2048k 64k"]
        : [.. Reads, "read -P 0 2048k 64k"];

    [Theory]
    [MemberData(nameof(EachPair))]
    public void Convert_to_every_other_format_compares_identical(string from, string to)
    {
        string src = NewSource(from);
        string dst = _dir.File("dst." + to);
        var convert = new List<string> { "img", "convert", "-O", to };
        // add-cow cannot be a convert target on its own: its create requires a backing file, so the target
        // gets an all-zero raw base and the converted data lands in the overlay.
        if (to == "add-cow") { convert.Add("-o"); convert.Add($"backing_file={Path.GetFileName(EmptyBase("dst-base.raw"))},backing_fmt=raw"); }
        convert.Add(src);
        convert.Add(dst);
        CliResult.Run([.. convert]).AssertSuccess();

        var same = CliResult.Run("img", "compare", src, dst);
        Assert.True(same.ExitCode == 0, $"compare {from} -> {to}: exit {same.ExitCode} {same.Out} {same.Err}");
        Assert.Equal("Images are identical.", same.OutLines.Single());

        // The bytes themselves, read through the target's own driver.
        var read = CliResult.Run(IoArgs(ReadsFor(from), dst));
        read.AssertSuccess();

        var info = CliResult.Run("img", "info", "--output", "json", dst);
        info.AssertSuccess();
        using var doc = JsonDocument.Parse(info.Out);
        Assert.Equal(to == "qcow3" ? "qcow2" : to, doc.RootElement.GetProperty("format").GetString());
        Assert.Equal(4L << 20, doc.RootElement.GetProperty("virtual-size").GetInt64());

        // compare must see a one-byte change in the target (so "identical" above was a real comparison).
        CliResult.Run("io", "-c", "write -P 0x01 3000k 1", dst).AssertSuccess();
        var differ = CliResult.Run("img", "compare", src, dst);
        Assert.Equal(1, differ.ExitCode);
        Assert.Contains("3072000", differ.Out);
    }

    [Theory]
    [MemberData(nameof(EachFormat))]
    public void Map_and_info_json_describe_each_format(string format)
    {
        string f = NewSource(format);

        var map = CliResult.Run("img", "map", "--output", "json", f);
        map.AssertSuccess();
        using (var doc = JsonDocument.Parse(map.Out))
        {
            long covered = 0;
            bool dataAtZero = false;
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                long start = e.GetProperty("start").GetInt64();
                Assert.Equal(covered, start);
                covered += e.GetProperty("length").GetInt64();
                if (start == 0) dataAtZero = e.GetProperty("data").GetBoolean();
            }
            Assert.Equal(4L << 20, covered);
            Assert.True(dataAtZero, $"{format}: offset 0 holds written data but map says no data");
        }

        var human = CliResult.Run("img", "map", f);
        human.AssertSuccess();
        Assert.StartsWith("Offset", human.OutLines[0]);

        var info = CliResult.Run("img", "info", "--output", "json", f);
        info.AssertSuccess();
        using var idoc = JsonDocument.Parse(info.Out);
        var root = idoc.RootElement;
        Assert.Equal(f, root.GetProperty("filename").GetString());
        Assert.Equal(format == "qcow3" ? "qcow2" : format, root.GetProperty("format").GetString());
        Assert.Equal(4L << 20, root.GetProperty("virtual-size").GetInt64());
        Assert.True(root.GetProperty("actual-size").GetInt64() > 0);
        Assert.Equal(format == "add-cow", root.TryGetProperty("backing-filename", out _));
    }

    [Fact]
    public void Irow_over_qcow2_over_raw_reads_every_layer_through_the_top_and_map_shows_depths()
    {
        string raw = _dir.File("base.raw");
        string mid = _dir.File("mid.qcow2");
        string top = _dir.File("top.irow");
        CliResult.Run("img", "create", "-f", "raw", raw, Size).AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x11 0 128k", raw).AssertSuccess();
        CliResult.Run("img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid).AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x22 64k 128k", mid).AssertSuccess();
        CliResult.Run("img", "create", "-f", "irow", "-b", "mid.qcow2", top).AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x33 128k 128k", top).AssertSuccess();

        // Each layer shadows the one below where it wrote: raw 0..64k, qcow2 64k..128k, iROW 128k..256k.
        CliResult.Run("io",
            "-c", "read -P 0x11 0 64k",
            "-c", "read -P 0x22 64k 64k",
            "-c", "read -P 0x33 128k 128k",
            "-c", "read -P 0 256k 64k",
            top).AssertSuccess();
        var wrong = CliResult.Run("io", "-c", "read -P 0x11 64k 1", top);
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("expected 0x11, found 0x22", wrong.Err);

        var map = CliResult.Run("img", "map", "--output", "json", top);
        map.AssertSuccess();
        using var doc = JsonDocument.Parse(map.Out);
        var depthAt = new Dictionary<long, (int Depth, bool Data, string? File)>();
        foreach (var e in doc.RootElement.EnumerateArray())
            depthAt[e.GetProperty("start").GetInt64()] = (e.GetProperty("depth").GetInt32(), e.GetProperty("data").GetBoolean(),
                e.TryGetProperty("file", out var file) ? file.GetString() : null);
        Assert.Equal((2, true, raw), depthAt[0]);
        Assert.Equal((1, true, mid), depthAt[64 << 10]);
        Assert.Equal(0, depthAt[128 << 10].Depth);
        Assert.True(depthAt[128 << 10].Data);
        Assert.Equal(2, depthAt[256 << 10].Depth);
        Assert.False(depthAt[256 << 10].Data);

        var info = CliResult.Run("img", "info", "--output", "json", top);
        info.AssertSuccess();
        using var idoc = JsonDocument.Parse(info.Out);
        Assert.Equal("irow", idoc.RootElement.GetProperty("format").GetString());
        Assert.Equal(mid, idoc.RootElement.GetProperty("full-backing-filename").GetString());

        // Flattening the chain into any single format keeps all three layers.
        string flat = _dir.File("flat.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", top, flat).AssertSuccess();
        Assert.Equal(0, CliResult.Run("img", "compare", top, flat).ExitCode);
        CliResult.Run("io", "-c", "read -P 0x11 0 64k", "-c", "read -P 0x22 64k 64k", "-c", "read -P 0x33 128k 128k", flat)
            .AssertSuccess();
    }
}
