using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>The commands side by side with qemu-img on the same files: same map, same verdicts, images qemu accepts.</summary>
public sealed class QemuInteropTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] MapKeys(string json) =>
        JsonDocument.Parse(json).RootElement.EnumerateArray().Select(e =>
            string.Join(',', "start,length,depth,present,zero,data,offset".Split(',')
                .Select(k => e.TryGetProperty(k, out var v) ? $"{k}={v.GetRawText()}" : $"{k}=-"))).ToArray();

    [Fact]
    public void Map_json_matches_qemu_img_on_a_qcow2_overlay()
    {
        string b = _dir.File("base.qcow2"), o = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", b, "8M");
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", "-c", "write -z 2M 64k", b);
        QemuImg.Img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", o);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 2 512k 128k", "-c", "write -P 3 4M 64k", o);
        var ours = CliResult.Run("img", "map", "--output", "json", o);
        ours.AssertSuccess();
        var theirs = QemuImg.Img("map", "--output", "json", o);
        Assert.Equal(MapKeys(theirs.Out), MapKeys(ours.Out));
    }

    [Fact]
    public void Human_map_matches_qemu_img_columns()
    {
        string f = _dir.File("a.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", f, "8M");
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", "-c", "write -P 2 3M 64k", f);
        string Squash(string s) => string.Join('\n', s.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))));
        Assert.Equal(Squash(QemuImg.Img("map", f).Out), Squash(CliResult.Run("img", "map", f).Out));
    }

    [Fact]
    public void Info_json_agrees_with_qemu_img_on_sizes_backing_and_snapshots()
    {
        string b = _dir.File("base.raw"), o = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-q", "-f", "raw", b, "8M");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "base.raw", "-F", "raw", o);
        QemuImg.Img("snapshot", "-c", "snap-a", o);
        var ours = JsonDocument.Parse(CliResult.Run("img", "info", "--output", "json", o).Out).RootElement;
        var theirs = JsonDocument.Parse(QemuImg.Img("info", "--output", "json", o).Out).RootElement;
        foreach (var key in new[] { "virtual-size", "cluster-size" })
            Assert.Equal(theirs.GetProperty(key).GetInt64(), ours.GetProperty(key).GetInt64());
        foreach (var key in new[] { "format", "backing-filename", "backing-filename-format" })
            Assert.Equal(theirs.GetProperty(key).GetString(), ours.GetProperty(key).GetString());
        Assert.Equal("snap-a", ours.GetProperty("snapshots")[0].GetProperty("name").GetString());
        Assert.Equal(theirs.GetProperty("snapshots")[0].GetProperty("id").GetString(), ours.GetProperty("snapshots")[0].GetProperty("id").GetString());
    }

    [Fact]
    public void Convert_to_qcow2_gives_an_image_qemu_img_finds_clean_and_identical()
    {
        string src = _dir.File("src.irow");
        CliResult.Run("img", "create", "-f", "irow", src, "16M").AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x61 0 3M", "-c", "write -P 0x62 9M 4k", src).AssertSuccess();
        string dst = _dir.File("dst.qcow2");
        CliResult.Run("img", "convert", "-O", "qcow2", "-o", "cluster_size=16k", src, dst).AssertSuccess();
        QemuImg.Img("check", dst);
        string flat = _dir.File("flat.raw");
        CliResult.Run("img", "convert", "-O", "raw", src, flat).AssertSuccess();
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", dst, flat).ExitCode);
        Io(dst, "read -P 0x62 9M 4k");
    }

    [Fact]
    public void Compare_gives_qemu_img_exit_codes()
    {
        string a = _dir.File("a.qcow2"), b = _dir.File("b.raw");
        QemuImg.Img("create", "-q", "-f", "qcow2", a, "4M");
        QemuImg.Img("create", "-q", "-f", "raw", b, "6M");
        Assert.Equal(0, CliResult.Run("img", "compare", a, b).ExitCode);
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", a, b).ExitCode);
        QemuImg.Run("qemu-io", "-f", "raw", "-c", "write -P 9 5M 1", b);
        var ours = CliResult.Run("img", "compare", a, b);
        var theirs = QemuImg.Run("qemu-img", "compare", a, b);
        Assert.Equal(theirs.ExitCode, ours.ExitCode);
        Assert.Equal(1, ours.ExitCode);
        Assert.Equal(theirs.Out.Trim(), ours.Out.Trim());
    }

    [Fact]
    public void Bench_writes_the_same_bytes_as_qemu_img_bench()
    {
        string ours = _dir.File("ours.raw"), theirs = _dir.File("theirs.raw");
        QemuImg.Img("create", "-q", "-f", "raw", ours, "1M");
        QemuImg.Img("create", "-q", "-f", "raw", theirs, "1M");
        string[] args = ["-w", "--pattern", "0x3c", "-c", "50", "-s", "4k", "-S", "12k", "-o", "8k"];
        var q = QemuImg.Img(["bench", "-f", "raw", "-d", "1", .. args, theirs]);
        var m = CliResult.Run(["img", "bench", "-f", "raw", .. args, ours]);
        m.AssertSuccess();
        Assert.Equal(q.OutLines[0], m.OutLines[0]);
        Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
    }

    [Fact]
    public void Io_map_and_report_lines_match_qemu_io()
    {
        string b = _dir.File("base.qcow2"), o = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", b, "8M");
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", "-c", "write -z 3M 64k", b);
        QemuImg.Img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", o);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 2 512k 128k", "-c", "write -P 3 4M 64k", "-c", "discard 6M 64k", o);
        var theirs = QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "map", o);
        var ours = CliResult.Run("io", "-c", "map", o);
        ours.AssertSuccess();
        Assert.Equal(theirs.Out, ours.Out);

        string[] commands = ["read -P 2 512k 128k", "write -P 4 7M 4k"];
        foreach (var c in commands)
        {
            var q = QemuImg.Run("qemu-io", "-f", "qcow2", "-c", c, o);
            var m = CliResult.Run("io", "-c", c, o);
            m.AssertSuccess();
            Assert.Equal(q.OutLines[0], m.OutLines[0]);
            Assert.Matches(@"^\d+ KiB, 1 ops; ", m.OutLines[1]);
        }
    }

    [Fact]
    public void Info_human_lines_match_qemu_img_up_to_the_format_specific_part()
    {
        string b = _dir.File("base.raw"), o = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-q", "-f", "raw", b, "1000k");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "base.raw", "-F", "raw", o);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 300k", o);
        static string[] Head(string text) => text.Split('\n').TakeWhile(l => l != "Format specific information:").ToArray();
        foreach (var args in new[] { new[] { "info", o }, ["info", "--backing-chain", o] })
        {
            var ours = CliResult.Run(["img", .. args]);
            ours.AssertSuccess();
            Assert.Equal(Head(QemuImg.Img(args).Out), Head(ours.Out));
        }
    }

    [Fact]
    public void Snapshot_list_keeps_qemu_img_columns()
    {
        string f = _dir.File("a.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", f, "1M");
        QemuImg.Img("snapshot", "-c", "first-snapshot", f);
        var theirs = QemuImg.Img("snapshot", "-l", f).Out.Split('\n');
        var ours = CliResult.Run("img", "snapshot", "-l", f);
        ours.AssertSuccess();
        // Every column, ICOUNT included (qcow2 records one), byte for byte.
        Assert.Equal(theirs, ours.Out.Split('\n'));
    }

    private static void Io(string file, string command) => CliResult.Run("io", "-c", command, file).AssertSuccess();
}
