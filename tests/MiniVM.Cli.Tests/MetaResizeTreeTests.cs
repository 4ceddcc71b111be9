using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>`img meta` (qcow3 user metadata), `img resize`, and the snapshot tree of `img info`.</summary>
public sealed class MetaResizeTreeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Create(string format, string name, string size)
    {
        string f = _dir.File(name);
        CliResult.Run("img", "create", "-f", format, f, size).AssertSuccess();
        return f;
    }

    [Fact]
    public void Meta_sets_gets_lists_and_deletes()
    {
        string f = Create("qcow3", "a.qcow2", "8M");
        var empty = CliResult.Run("img", "meta", f);
        empty.AssertSuccess();
        Assert.Equal("", empty.Out);
        CliResult.Run("img", "meta", f, "owner=alice").AssertSuccess();
        CliResult.Run("img", "meta", f, "purpose=demo disk=1").AssertSuccess();
        CliResult.Run("img", "meta", f, "owner=bob").AssertSuccess();
        var get = CliResult.Run("img", "meta", f, "owner");
        get.AssertSuccess();
        Assert.Equal("bob\n", get.Out);
        var list = CliResult.Run("img", "meta", f);
        list.AssertSuccess();
        Assert.Equal(["owner=bob", "purpose=demo disk=1"], list.OutLines.Order().ToArray());
        CliResult.Run("img", "meta", f, "--delete", "owner").AssertSuccess();
        CliResult.Run("img", "meta", f, "owner").AssertOneError(1, "owner");
        CliResult.Run("img", "meta", f, "--delete", "owner").AssertOneError(1, "owner");
        Assert.Equal(["purpose=demo disk=1"], CliResult.Run("img", "meta", f).OutLines);
        CliResult.Run("img", "meta", f, "=x").AssertOneError(64, "key");
    }

    [Fact]
    public void Meta_on_a_format_without_it_is_69()
    {
        string f = Create("raw", "a.raw", "1M");
        CliResult.Run("img", "meta", f).AssertOneError(69, "user metadata");
        CliResult.Run("img", "meta", f, "k=v").AssertOneError(69, "a.raw");
        string i = Create("irow", "a.irow", "1M");
        CliResult.Run("img", "meta", i, "k").AssertOneError(69, "irow");
    }

    [Fact]
    public void Qemu_img_resize_and_snapshot_keep_the_pair()
    {
        string f = Create("qcow3", "q.qcow2", "8M");
        CliResult.Run("img", "meta", f, "owner=alice").AssertSuccess();
        QemuImg.Img("resize", "-q", f, "+8M");
        QemuImg.Img("snapshot", "-c", "snap1", f);
        Assert.Equal(0, QemuImg.Run("qemu-img", "check", f).ExitCode);
        var get = CliResult.Run("img", "meta", f, "owner");
        get.AssertSuccess();
        Assert.Equal("alice\n", get.Out);
        var info = JsonDocument.Parse(CliResult.Run("img", "info", "--output", "json", f).Out).RootElement;
        Assert.Equal(16L << 20, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal("snap1", info.GetProperty("snapshots")[0].GetProperty("name").GetString());
    }

    [Fact]
    public void Resize_grows_by_absolute_and_relative_sizes_and_shrinks_only_with_the_flag()
    {
        string f = Create("qcow2", "r.qcow2", "8M");
        CliResult.Run("io", "-c", "write -P 7 7M 64k", f).AssertSuccess();
        var grow = CliResult.Run("img", "resize", f, "16M");
        grow.AssertSuccess();
        Assert.Equal("Image resized.\n", grow.Out);
        CliResult.Run("img", "resize", f, "+1M").AssertSuccess();
        Assert.Equal(17L << 20, Size(f));
        CliResult.Run("img", "resize", f, "-10M").AssertOneError(64, "--shrink");
        Assert.Equal(17L << 20, Size(f));
        CliResult.Run("img", "resize", "--shrink", f, "-9M").AssertSuccess();
        Assert.Equal(8L << 20, Size(f));
        CliResult.Run("io", "-c", "read -P 7 7M 64k", f).AssertSuccess(); // data below the new end survives
        CliResult.Run("img", "resize", "--shrink", f, "-9M").AssertOneError(64, "negative");
        CliResult.Run("img", "resize", f, "12Q").AssertOneError(64, "12Q");
        var q = QemuImg.Run("qemu-img", "info", "--output", "json", f);
        Assert.Equal(8L << 20, JsonDocument.Parse(q.Out).RootElement.GetProperty("virtual-size").GetInt64());
    }

    [Fact]
    public void A_resize_the_format_cannot_do_is_69()
    {
        string f = Create("irow", "a.irow", "1M");
        CliResult.Run("img", "resize", "--shrink", f, "512K").AssertOneError(69, "cannot shrink");
        Assert.Equal(1L << 20, Size(f));
    }

    private static long Size(string f) =>
        JsonDocument.Parse(CliResult.Run("img", "info", "--output", "json", f).Out).RootElement.GetProperty("virtual-size").GetInt64();

    [Fact]
    public void Info_draws_the_irow_snapshot_tree_with_the_current_state_under_its_parent()
    {
        string f = Create("irow", "t.irow", "4M");
        foreach (var s in new[] { "base", "s1", "s2" }) CliResult.Run("img", "snapshot", "-c", s, f).AssertSuccess();
        CliResult.Run("img", "snapshot", "-a", "s1", f).AssertSuccess();
        var r = CliResult.Run("img", "info", f);
        r.AssertSuccess();
        string[] lines = r.Out.Split('\n');
        int at = Array.IndexOf(lines, "Snapshot tree:");
        Assert.True(at > 0, r.Out);
        Assert.Equal(["base (id 1)", "└── s1 (id 2)", "    ├── s2 (id 3)", "    └── (current)"], lines[(at + 1)..(at + 5)]);

        var tree = JsonDocument.Parse(CliResult.Run("img", "info", "--output", "json", f).Out).RootElement.GetProperty("snapshot-tree");
        var root = Assert.Single(tree.EnumerateArray());
        Assert.Equal("base", root.GetProperty("name").GetString());
        var s1 = Assert.Single(root.GetProperty("children").EnumerateArray());
        Assert.Equal("2", s1.GetProperty("id").GetString());
        var kids = s1.GetProperty("children").EnumerateArray().ToArray();
        Assert.Equal("s2", kids[0].GetProperty("name").GetString());
        Assert.False(kids[0].GetProperty("current").GetBoolean());
        Assert.True(kids[1].GetProperty("current").GetBoolean());
        Assert.Empty(kids[1].GetProperty("children").EnumerateArray());
    }

    [Fact]
    public void Formats_without_a_tree_show_none()
    {
        string f = Create("qcow2", "n.qcow2", "4M");
        CliResult.Run("img", "snapshot", "-c", "a", f).AssertSuccess();
        var r = CliResult.Run("img", "info", f);
        r.AssertSuccess();
        Assert.DoesNotContain("Snapshot tree:", r.Out);
        Assert.False(JsonDocument.Parse(CliResult.Run("img", "info", "--output", "json", f).Out).RootElement.TryGetProperty("snapshot-tree", out _));
    }
}
