using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>The commands on iROW images: options, snapshots, backing chains, map depth, convert, corrupt headers, path safety.</summary>
public sealed class IrowCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Create(string name, string size = "16M", params string[] extra)
    {
        string f = _dir.File(name);
        CliResult.Run([.. new[] { "img", "create", "-f", "irow" }, .. extra, f, size]).AssertSuccess();
        return f;
    }

    private static JsonElement InfoJson(string file, params string[] extra)
    {
        var r = CliResult.Run([.. new[] { "img", "info", "--output", "json" }, .. extra, file]);
        r.AssertSuccess();
        return JsonDocument.Parse(r.Out).RootElement.Clone();
    }

    private static void Io(string file, params string[] commands)
    {
        var args = new List<string> { "io" };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(file);
        CliResult.Run([.. args]).AssertSuccess();
    }

    [Fact]
    public void Create_options_reach_the_format_and_info_shows_them()
    {
        string f = Create("a.irow", "64M", "-o", "cluster_size=4k");
        var r = CliResult.Run("img", "info", f);
        r.AssertSuccess();
        Assert.Contains("file format: irow", r.OutLines);
        Assert.Contains("virtual size: 64 MiB (67108864 bytes)", r.OutLines);
        Assert.Contains("cluster_size: 4096", r.OutLines);
        Assert.Contains("Format specific information:", r.OutLines);
        Assert.Equal(4096, InfoJson(f).GetProperty("cluster-size").GetInt64());
        Assert.Equal(0, CliResult.Run("img", "check", f).ExitCode);
    }

    [Fact]
    public void Bad_create_option_value_is_one_line()
    {
        var r = CliResult.Run("img", "create", "-f", "irow", "-o", "cluster_size=3000", _dir.File("a.irow"), "1M");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Single(r.ErrLines);
        Assert.Contains("cluster_size", r.Err);
    }

    [Fact]
    public void Snapshot_round_trip_reverts_content_and_delete_shrinks_disk_usage()
    {
        string f = Create("a.irow", "64M");
        Io(f, "write -P 0x01 0 4M");
        CliResult.Run("img", "snapshot", "-c", "first", f).AssertSuccess();
        Io(f, "write -P 0x02 0 4M", "write -P 0x03 8M 64k");
        CliResult.Run("img", "snapshot", "-c", "second", f).AssertSuccess();
        Io(f, "write -P 0x04 0 4M");

        var list = CliResult.Run("img", "snapshot", "-l", f);
        list.AssertSuccess();
        Assert.Equal("Snapshot list:", list.OutLines[0]);
        Assert.Contains(list.OutLines, l => l.Contains("first"));
        Assert.Contains(list.OutLines, l => l.Contains("second"));
        var snaps = InfoJson(f).GetProperty("snapshots");
        Assert.Equal(["first", "second"], snaps.EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToArray());

        CliResult.Run("img", "snapshot", "-a", "first", f).AssertSuccess();
        Io(f, "read -P 0x01 0 4M", "read -P 0 8M 64k");
        CliResult.Run("img", "snapshot", "-a", "second", f).AssertSuccess();
        Io(f, "read -P 0x02 0 4M", "read -P 0x03 8M 64k");

        long before = InfoJson(f).GetProperty("actual-size").GetInt64();
        CliResult.Run("img", "snapshot", "-d", "first", f).AssertSuccess();
        CliResult.Run("img", "snapshot", "-d", "second", f).AssertSuccess();
        long after = InfoJson(f).GetProperty("actual-size").GetInt64();
        Assert.True(after < before, $"disk usage {before} -> {after} did not shrink");
        Assert.False(InfoJson(f).TryGetProperty("snapshots", out _)); // qemu-img leaves the key out when there are none
        Io(f, "read -P 0x02 0 4M", "read -P 0x03 8M 64k");
        Assert.Equal(0, CliResult.Run("img", "check", f).ExitCode);
    }

    [Fact]
    public void Snapshot_errors_are_one_line()
    {
        string f = Create("a.irow");
        CliResult.Run("img", "snapshot", "-c", "s", f).AssertSuccess();
        CliResult.Run("img", "snapshot", "-c", "s", f).AssertOneError(ExitCodes.ImageFormat, "already exists");
        var r = CliResult.Run("img", "snapshot", "-a", "nosuch", f);
        Assert.Equal(ExitCodes.ImageFormat, r.ExitCode);
        Assert.Single(r.ErrLines);
        Assert.Contains("nosuch", r.Err);
    }

    [Fact]
    public void Overlay_on_raw_reads_through_and_map_reports_depth()
    {
        string baseRaw = _dir.File("base.raw");
        CliResult.Run("img", "create", "-f", "raw", baseRaw, "4M").AssertSuccess();
        Io(baseRaw, "write -P 0x11 0 1M");
        var c = CliResult.Run("img", "create", "-f", "irow", "-b", "base.raw", "-F", "raw", _dir.File("ov.irow"));
        c.AssertSuccess();
        Assert.Contains("size=4194304 backing_file=base.raw backing_fmt=raw", c.Out);
        string ov = _dir.File("ov.irow");
        Io(ov, "write -P 0x22 64k 64k", "read -P 0x11 0 64k", "read -P 0x22 64k 64k", "read -P 0x11 128k 64k");

        var map = CliResult.Run("img", "map", "--output", "json", ov);
        map.AssertSuccess();
        var runs = JsonDocument.Parse(map.Out).RootElement.EnumerateArray().ToList();
        var top = runs.Single(x => x.GetProperty("depth").GetInt32() == 0);
        Assert.Equal(65536, top.GetProperty("start").GetInt64());
        Assert.Equal(65536, top.GetProperty("length").GetInt64());
        Assert.True(top.GetProperty("data").GetBoolean());
        Assert.EndsWith(".irvd", top.GetProperty("file").GetString());
        var first = runs[0];
        Assert.Equal(1, first.GetProperty("depth").GetInt32());
        Assert.Equal(baseRaw, first.GetProperty("file").GetString());

        var info = InfoJson(ov);
        Assert.Equal("base.raw", info.GetProperty("backing-filename").GetString());
        Assert.Equal(baseRaw, info.GetProperty("full-backing-filename").GetString());
        var chain = CliResult.Run("img", "info", "--backing-chain", "--output", "json", ov);
        chain.AssertSuccess();
        var layers = JsonDocument.Parse(chain.Out).RootElement.EnumerateArray().Select(l => l.GetProperty("format").GetString()!).ToArray();
        Assert.Equal(["irow", "raw"], layers);
    }

    [Fact]
    public void Convert_flattens_a_chain_into_any_format_and_compare_agrees()
    {
        string baseRaw = _dir.File("base.raw");
        CliResult.Run("img", "create", "-f", "raw", baseRaw, "8M").AssertSuccess();
        Io(baseRaw, "write -P 0x11 0 2M");
        string ov = Create("ov.irow", "8M", "-b", "base.raw");
        Io(ov, "write -P 0x22 1M 64k", "write -P 0x33 6M 4k");

        string flat = _dir.File("flat.raw");
        CliResult.Run("img", "convert", "-O", "raw", ov, flat).AssertSuccess();
        byte[] bytes = File.ReadAllBytes(flat);
        Assert.Equal(0x11, bytes[0]);
        Assert.Equal(0x22, bytes[1 << 20]);
        Assert.Equal(0x11, bytes[(1 << 20) + 65536]);
        Assert.Equal(0x33, bytes[6 << 20]);
        Assert.Equal(0, bytes[3 << 20]);
        CliResult.Run("img", "compare", ov, flat).AssertSuccess();

        string copy = _dir.File("copy.irow");
        CliResult.Run("img", "convert", "-O", "irow", "-o", "cluster_size=16k", flat, copy).AssertSuccess();
        CliResult.Run("img", "compare", copy, ov).AssertSuccess();
        Assert.Equal(16384, InfoJson(copy).GetProperty("cluster-size").GetInt64());
        Io(flat, "write -P 0x44 7M 1");
        var d = CliResult.Run("img", "compare", copy, flat);
        Assert.Equal(1, d.ExitCode);
        Assert.Equal($"Content mismatch at offset {7 << 20}!", d.OutLines.Single());
    }

    [Fact]
    public void Create_with_missing_backing_fails_before_writing()
    {
        string f = _dir.File("ov.irow");
        CliResult.Run("img", "create", "-f", "irow", "-b", "nothere.raw", f).AssertOneError(ExitCodes.NoSuchFile, "nothere.raw");
        Assert.False(File.Exists(f));
    }

    [Fact]
    public void Backing_names_leaving_the_folder_are_stored_as_given_and_resolved_like_qemu_img()
    {
        Directory.CreateDirectory(_dir.File("sub"));
        string baseRaw = _dir.File("base.raw");
        CliResult.Run("img", "create", "-f", "raw", baseRaw, "1M").AssertSuccess();
        string ov = _dir.File("sub/ov.irow");
        CliResult.Run("img", "create", "-f", "irow", "-b", "../base.raw", "-F", "raw", ov).AssertSuccess();
        CliResult.Run("io", "-c", "read -P 0 0 4k", ov).AssertSuccess();
        // info opens one layer only, so it shows the stored name without following it.
        Assert.Equal("../base.raw", InfoJson(ov).GetProperty("backing-filename").GetString());
    }

    [Fact]
    public void Corrupt_header_gives_one_line_and_exit_65()
    {
        string f = Create("a.irow");
        byte[] meta = File.ReadAllBytes(f);
        meta[4] ^= 0xff; // version field (irow.md header: magic, version)
        File.WriteAllBytes(f, meta);
        // The version no longer probes as iROW; forcing the format must name the bad field.
        CliResult.Run("img", "info", "-f", "irow", f).AssertOneError(ExitCodes.ImageFormat, f);
        CliResult.Run("img", "check", "-f", "irow", f).AssertOneError(ExitCodes.Failure, f);
        CliResult.Run("io", "-f", "irow", "-c", "read 0 1", f).AssertOneError(ExitCodes.ImageFormat, f);
    }

    [Fact]
    public void Truncated_meta_file_gives_one_line()
    {
        string f = Create("a.irow");
        byte[] meta = File.ReadAllBytes(f);
        File.WriteAllBytes(f, meta.AsSpan(0, 40).ToArray());
        CliResult.Run("img", "info", "-f", "irow", f).AssertOneError(ExitCodes.ImageFormat, f);
    }

    [Fact]
    public void Missing_data_file_gives_one_line()
    {
        string f = Create("a.irow");
        foreach (var irvd in Directory.GetFiles(_dir.Path, "*.irvd")) File.Delete(irvd);
        var r = CliResult.Run("io", "-c", "read 0 1", f);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Single(r.ErrLines);
        Assert.StartsWith("minivm: ", r.Err);
    }

    [Fact]
    public void Bench_on_irow_writes_what_it_says()
    {
        string f = Create("a.irow", "16M");
        var r = CliResult.Run("img", "bench", "-w", "--pattern", "0x5c", "-c", "64", "-s", "64k", f);
        r.AssertSuccess();
        Io(f, "read -P 0x5c 0 4M");
        Assert.Equal(0, CliResult.Run("img", "check", f).ExitCode);
    }

    [Fact]
    public void Info_backing_chain_prints_every_layer()
    {
        string baseRaw = _dir.File("base.raw");
        CliResult.Run("img", "create", "-f", "raw", baseRaw, "2M").AssertSuccess();
        string mid = Create("mid.irow", "2M", "-b", "base.raw");
        string top = Create("top.irow", "2M", "-b", "mid.irow");
        var r = CliResult.Run("img", "info", "--backing-chain", top);
        r.AssertSuccess();
        var images = r.OutLines.Where(l => l.StartsWith("image: ")).ToArray();
        Assert.Equal([$"image: {top}", $"image: {mid}", $"image: {baseRaw}"], images);
        Assert.Contains("backing file: mid.irow (actual path: " + mid + ")", r.OutLines);
        Assert.Equal(["file format: irow", "file format: irow", "file format: raw"], r.OutLines.Where(l => l.StartsWith("file format")).ToArray());
        // The chain reads through both layers.
        Io(baseRaw, "write -P 1 0 64k");
        Io(mid, "write -P 2 64k 64k");
        Io(top, "read -P 1 0 64k", "read -P 2 64k 64k", "read -P 0 128k 64k");
        var map = CliResult.Run("img", "map", "--output", "json", top);
        var depths = JsonDocument.Parse(map.Out).RootElement.EnumerateArray().Take(2).Select(x => x.GetProperty("depth").GetInt32()).ToArray();
        Assert.Equal([2, 1], depths);
    }

    [Fact]
    public void Snapshot_list_of_an_image_without_snapshots_is_just_the_title()
    {
        var r = CliResult.Run("img", "snapshot", "-l", Create("a.irow"));
        r.AssertSuccess();
        Assert.Equal(["Snapshot list:"], r.OutLines);
    }

    [Fact]
    public void A_backing_cycle_is_refused_by_every_command_in_one_line()
    {
        // b <- a <- c, then c's meta file takes b's name: b -> a -> b.
        Create("b.irow", "1M");
        string a = Create("a.irow", "1M", "-b", "b.irow");
        Create("c.irow", "1M", "-b", "a.irow");
        File.Delete(_dir.File("b.irow"));
        File.Move(_dir.File("c.irow"), _dir.File("b.irow"));
        CliResult.Run("img", "info", "--backing-chain", a).AssertOneError(ExitCodes.ImageFormat, "cycle");
        CliResult.Run("io", "-c", "read 0 1", a).AssertOneError(ExitCodes.ImageFormat, "cycle");
        CliResult.Run("img", "map", a).AssertOneError(ExitCodes.ImageFormat, "cycle");
        CliResult.Run("img", "convert", a, _dir.File("out.raw")).AssertOneError(ExitCodes.ImageFormat, "cycle");
        CliResult.Run("img", "compare", a, a).AssertOneError(2, "cycle");
        // One layer alone is fine: info without --backing-chain does not follow the name.
        CliResult.Run("img", "info", a).AssertSuccess();
    }
}
