using System.Text.Json;
using System.Text.Json.Nodes;

namespace MiniVM.Cli.Tests;

/// <summary>
/// `info` and `check` with `--output json` diffed against real qemu-img on the same files: for raw and qcow2 the
/// documents are equal key for key and type for type (key order aside); the human check summary line for line.
/// </summary>
public sealed class QemuJsonParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Both documents as JSON trees; any key, value or type that differs fails with both texts shown.</summary>
    private static void AssertSameJson(string theirs, string ours)
    {
        var a = JsonNode.Parse(theirs);
        var b = JsonNode.Parse(ours);
        Assert.True(JsonNode.DeepEquals(a, b), $"qemu-img:\n{theirs}\nminivm:\n{ours}");
    }

    private string Qcow2WithDataSnapshotAndBacking()
    {
        string b = _dir.File("base.raw"), o = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-q", "-f", "raw", b, "8M");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "base.raw", "-F", "raw", o);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 7 0 64k", "-c", "write -P 8 1M 4k", o);
        QemuImg.Img("snapshot", "-c", "snap-a", o);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 9 0 4k", o);
        return o;
    }

    [Fact]
    public void Info_json_equals_qemu_img_for_a_qcow2_overlay_with_a_snapshot()
    {
        string o = Qcow2WithDataSnapshotAndBacking();
        var ours = CliResult.Run("img", "info", "--output", "json", o);
        ours.AssertSuccess();
        AssertSameJson(QemuImg.Img("info", "--output", "json", o).Out, ours.Out);
    }

    [Fact]
    public void Info_json_equals_qemu_img_for_raw_and_a_plain_qcow2()
    {
        string r = _dir.File("a.raw"), q = _dir.File("a.qcow2");
        QemuImg.Img("create", "-q", "-f", "raw", r, "3M");
        QemuImg.Run("qemu-io", "-f", "raw", "-c", "write -P 1 0 8k", r);
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", q, "5M");
        foreach (var (f, fmt) in new[] { (r, "raw"), (q, "qcow2") })
        {
            var ours = CliResult.Run("img", "info", "-f", fmt, "--output", "json", f);
            ours.AssertSuccess();
            AssertSameJson(QemuImg.Img("info", "-f", fmt, "--output", "json", f).Out, ours.Out);
        }
    }

    [Fact]
    public void Info_backing_chain_json_equals_qemu_img()
    {
        string o = Qcow2WithDataSnapshotAndBacking();
        var ours = CliResult.Run("img", "info", "--backing-chain", "--output", "json", o);
        ours.AssertSuccess();
        AssertSameJson(QemuImg.Img("info", "--backing-chain", "--output", "json", o).Out, ours.Out);
    }

    [Fact]
    public void Check_json_and_summary_equal_qemu_img_for_qcow2()
    {
        string o = Qcow2WithDataSnapshotAndBacking();
        var ours = CliResult.Run("img", "check", "--output", "json", o);
        ours.AssertSuccess();
        AssertSameJson(QemuImg.Img("check", "--output", "json", o).Out, ours.Out);
        var human = CliResult.Run("img", "check", o);
        human.AssertSuccess();
        Assert.Equal(QemuImg.Img("check", o).Out, human.Out);
    }

    [Fact]
    public void Check_of_raw_exits_63_like_qemu_img()
    {
        string r = _dir.File("a.raw");
        QemuImg.Img("create", "-q", "-f", "raw", r, "1M");
        Assert.Equal(63, QemuImg.Run("qemu-img", "check", "-f", "raw", "--output", "json", r).ExitCode);
        var ours = CliResult.Run("img", "check", "-f", "raw", "--output", "json", r);
        ours.AssertOneError(63, "does not support checks");
        Assert.Equal("", ours.Out);
    }

    [Fact]
    public void Dirty_flag_is_a_boolean_and_info_says_not_cleanly_shut_down()
    {
        string img = _dir.File("lazy.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", img, "1M");
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", "-c", "flush", "-c", "abort", img);
        var ours = CliResult.Run("img", "info", "--output", "json", img);
        ours.AssertSuccess();
        AssertSameJson(QemuImg.Img("info", "--output", "json", img).Out, ours.Out);
        Assert.True(JsonNode.Parse(ours.Out)!["dirty-flag"]!.GetValue<bool>());
        Assert.Contains("cleanly shut down: no", CliResult.Run("img", "info", img).OutLines);
    }

    [Fact]
    public void Other_formats_keep_minivm_keys_with_qemu_types()
    {
        string f = _dir.File("a.irow");
        CliResult.Run("img", "create", "-f", "irow", f, "4M").AssertSuccess();
        CliResult.Run("img", "snapshot", "-c", "s1", f).AssertSuccess();
        var doc = JsonNode.Parse(CliResult.Run("img", "info", "--output", "json", f).Out)!;
        Assert.Equal(JsonValueKind.False, doc["dirty-flag"]!.GetValueKind());
        Assert.Equal(JsonValueKind.Number, doc["virtual-size"]!.GetValueKind());
        Assert.True(doc["files"]!.AsArray().Count > 1);
        Assert.NotNull(doc["snapshot-tree"]);
        Assert.Equal("irow", doc["format-specific"]!["type"]!.GetValue<string>());
    }
}
