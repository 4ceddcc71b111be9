using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>create/info/io/map/convert/compare/bench round trips on raw images, asserted on output and bytes on disk.</summary>
public sealed class RawCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string NewRaw(string name, string size = "4M")
    {
        string f = _dir.File(name);
        CliResult.Run("img", "create", "-f", "raw", f, size).AssertSuccess();
        return f;
    }

    [Fact]
    public void Create_makes_a_file_of_the_size_and_says_so()
    {
        string f = _dir.File("a.raw");
        var r = CliResult.Run("img", "create", "-f", "raw", f, "64M");
        r.AssertSuccess();
        Assert.Equal($"Formatting '{f}', fmt=raw size=67108864", r.OutLines.Single());
        Assert.Equal(64L << 20, new FileInfo(f).Length);
    }

    [Fact]
    public void Info_shows_format_and_virtual_size_like_qemu_img()
    {
        string f = NewRaw("a.raw", "64M");
        var r = CliResult.Run("img", "info", f);
        r.AssertSuccess();
        Assert.Equal($"image: {f}", r.OutLines[0]);
        Assert.Contains("file format: raw", r.OutLines);
        Assert.Contains("virtual size: 64 MiB (67108864 bytes)", r.OutLines);
        Assert.Contains(r.OutLines, l => l.StartsWith("disk size: "));
    }

    [Fact]
    public void Info_json_has_the_stable_keys()
    {
        string f = NewRaw("a.raw", "10M");
        CliResult.Run("io", "-c", "write -P 0x11 0 1M", f).AssertSuccess();
        var r = CliResult.Run("img", "info", "--output", "json", f);
        r.AssertSuccess();
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(f, root.GetProperty("filename").GetString());
        Assert.Equal("raw", root.GetProperty("format").GetString());
        Assert.Equal(10L << 20, root.GetProperty("virtual-size").GetInt64());
        Assert.True(root.GetProperty("actual-size").GetInt64() >= 1 << 20);
        // As qemu-img: raw has no cluster size, snapshots or format-specific data, so the keys are absent.
        Assert.False(root.TryGetProperty("cluster-size", out _));
        Assert.False(root.TryGetProperty("snapshots", out _));
        Assert.False(root.TryGetProperty("format-specific", out _));
        Assert.False(root.GetProperty("dirty-flag").GetBoolean());
        Assert.False(root.TryGetProperty("backing-filename", out _));
    }

    [Fact]
    public void Io_write_then_read_verifies_and_the_bytes_are_on_disk()
    {
        string f = NewRaw("a.raw");
        var r = CliResult.Run("io", "-c", "write -P 0xab 4096 64k", "-c", "read -P 0xab 4096 64k", "-c", "read -P 0 0 4096", f);
        r.AssertSuccess();
        Assert.Contains("wrote 65536/65536 bytes at offset 4096", r.OutLines);
        Assert.Contains("read 65536/65536 bytes at offset 4096", r.OutLines);
        Assert.Contains("read 4096/4096 bytes at offset 0", r.OutLines);
        byte[] disk = File.ReadAllBytes(f);
        Assert.All(disk.AsSpan(4096, 65536).ToArray(), b => Assert.Equal(0xab, b));
        Assert.Equal(0, disk[4095]);
        Assert.Equal(0, disk[4096 + 65536]);
    }

    [Fact]
    public void Io_write_without_pattern_uses_qemu_io_default_0xcd_and_z_writes_zeroes()
    {
        string f = NewRaw("a.raw");
        CliResult.Run("io", "-c", "write 0 8k", "-c", "write -z 4k 4k", f).AssertSuccess();
        byte[] disk = File.ReadAllBytes(f);
        Assert.Equal(0xcd, disk[0]);
        Assert.Equal(0xcd, disk[4095]);
        Assert.Equal(0, disk[4096]);
        Assert.Equal(0, disk[8191]);
    }

    [Fact]
    public void Io_read_pattern_mismatch_names_the_first_bad_offset_and_fails()
    {
        string f = NewRaw("a.raw");
        CliResult.Run("io", "-c", "write -P 0x5a 0 64k", "-c", "write -P 0x00 12345 1", f).AssertSuccess();
        var r = CliResult.Run("io", "-c", "read -P 0x5a 0 64k", f);
        r.AssertOneError(ExitCodes.Failure, "pattern verification failed at offset 12345");
        Assert.Contains("expected 0x5a, found 0x00", r.Err);
    }

    [Fact]
    public void Io_discard_makes_the_range_read_as_zeroes()
    {
        string f = NewRaw("a.raw");
        var r = CliResult.Run("io", "-c", "write -P 7 0 128k", "-c", "discard 0 64k", "-c", "read -P 0 0 64k", "-c", "read -P 7 64k 64k", f);
        r.AssertSuccess();
        Assert.Contains("discard 65536/65536 bytes at offset 0", r.OutLines);
    }

    [Fact]
    public void Io_map_reports_allocated_and_unallocated_ranges()
    {
        string f = NewRaw("a.raw", "1M");
        var r = CliResult.Run("io", "-c", "write -P 1 0 64k", "-c", "map", f);
        r.AssertSuccess();
        // raw says "zero" for holes, which counts as allocated (present) exactly like qemu-io on a raw file.
        Assert.Contains("1 MiB (0x100000) bytes     allocated at offset 0 bytes (0x0)", r.OutLines);
    }

    [Theory]
    [InlineData("read 0 8M", ExitCodes.ImageFormat, "beyond the image size")]
    [InlineData("frobnicate 0 1", ExitCodes.Usage, "unknown io command 'frobnicate'")]
    [InlineData("read 0", ExitCodes.Usage, "expected read OFF LEN")]
    [InlineData("read -P 300 0 1", ExitCodes.Usage, "pattern '300'")]
    [InlineData("write 0 12Q", ExitCodes.Usage, "unknown suffix")]
    [InlineData("write -z -P 1 0 1", ExitCodes.Usage, "cannot be combined")]
    public void Io_bad_commands_give_one_line_and_a_class_exit_code(string command, int code, string message)
    {
        string f = NewRaw("a.raw");
        CliResult.Run("io", "-c", command, f).AssertOneError(code, message);
    }

    [Fact]
    public void Io_parses_every_command_before_running_any()
    {
        string f = NewRaw("a.raw");
        CliResult.Run("io", "-c", "write -P 9 0 4k", "-c", "bogus", f).AssertOneError(ExitCodes.Usage, "bogus");
        Assert.Equal(0, File.ReadAllBytes(f)[0]);
    }

    [Fact]
    public void Io_read_only_refuses_writes()
    {
        string f = NewRaw("a.raw");
        CliResult.Run("io", "-r", "-c", "write 0 4k", f).AssertOneError(ExitCodes.Usage, "read-only");
    }

    [Fact]
    public void Map_json_lists_data_and_zero_runs_with_file_offsets()
    {
        string f = NewRaw("a.raw", "4M");
        CliResult.Run("io", "-c", "write -P 1 1M 64k", f).AssertSuccess();
        var r = CliResult.Run("img", "map", "--output", "json", f);
        r.AssertSuccess();
        using var doc = JsonDocument.Parse(r.Out);
        var runs = doc.RootElement.EnumerateArray().ToList();
        long covered = 0;
        foreach (var run in runs)
        {
            Assert.Equal(covered, run.GetProperty("start").GetInt64());
            covered += run.GetProperty("length").GetInt64();
            Assert.Equal(0, run.GetProperty("depth").GetInt32());
        }
        Assert.Equal(4L << 20, covered);
        var data = runs.Single(x => x.GetProperty("data").GetBoolean());
        Assert.True(data.GetProperty("start").GetInt64() <= 1 << 20);
        Assert.True(data.GetProperty("start").GetInt64() + data.GetProperty("length").GetInt64() >= (1 << 20) + 65536);
        Assert.Equal(data.GetProperty("start").GetInt64(), data.GetProperty("offset").GetInt64());
        Assert.Equal(f, data.GetProperty("file").GetString());
    }

    [Fact]
    public void Map_human_shows_only_data_ranges()
    {
        string f = NewRaw("a.raw", "4M");
        CliResult.Run("io", "-c", "write -P 1 1M 64k", f).AssertSuccess();
        var r = CliResult.Run("img", "map", f);
        r.AssertSuccess();
        Assert.Contains("Offset", r.OutLines[0]);
        var row = Assert.Single(r.OutLines.Skip(1));
        Assert.Contains(f, row);
        Assert.StartsWith("0x", row);
    }

    [Fact]
    public void Convert_copies_content_and_skips_zeroes()
    {
        string a = NewRaw("a.raw", "64M");
        CliResult.Run("io", "-c", "write -P 0x42 0 64k", "-c", "write -P 0x43 32M 4k", "-c", "write -P 0 48M 1M", a).AssertSuccess();
        string b = _dir.File("b.raw");
        var r = CliResult.Run("img", "convert", "-O", "raw", a, b);
        r.AssertSuccess();
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        CliResult.Run("img", "compare", a, b).AssertSuccess();
        using var doc = JsonDocument.Parse(CliResult.Run("img", "info", "--output", "json", b).Out);
        // Only the two non-zero writes are data in the copy; the written zero megabyte stays a hole.
        Assert.True(doc.RootElement.GetProperty("actual-size").GetInt64() < 1 << 20);
    }

    [Fact]
    public void Convert_with_progress_prints_qemu_style_percentages_when_piped()
    {
        string a = NewRaw("a.raw", "1M");
        var r = CliResult.Run("img", "convert", "-p", "-O", "raw", a, _dir.File("b.raw"));
        r.AssertSuccess();
        Assert.Equal("(0.00/100%)", r.OutLines[0]);
        Assert.Equal("(100.00/100%)", r.OutLines[^1]);
    }

    [Fact]
    public void Convert_refuses_to_overwrite_its_input()
    {
        string a = NewRaw("a.raw");
        CliResult.Run("img", "convert", "-O", "raw", a, a).AssertOneError(ExitCodes.Usage, "same file");
    }

    [Fact]
    public void Compare_reports_the_first_differing_offset()
    {
        string a = NewRaw("a.raw"), b = NewRaw("b.raw");
        CliResult.Run("io", "-c", "write -P 1 0 1M", a).AssertSuccess();
        CliResult.Run("io", "-c", "write -P 1 0 1M", "-c", "write -P 2 777777 1", b).AssertSuccess();
        var r = CliResult.Run("img", "compare", a, b);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("Content mismatch at offset 777777!", r.OutLines.Single());
    }

    [Fact]
    public void Compare_treats_a_zero_tail_as_equal_unless_strict()
    {
        string a = NewRaw("a.raw", "1M"), b = NewRaw("b.raw", "2M");
        var r = CliResult.Run("img", "compare", a, b);
        r.AssertSuccess();
        Assert.Equal(["Warning: Image size mismatch!", "Images are identical."], r.OutLines);
        Assert.Equal(1, CliResult.Run("img", "compare", "-s", a, b).ExitCode);
        CliResult.Run("io", "-c", "write -P 3 1536k 1", b).AssertSuccess();
        var d = CliResult.Run("img", "compare", a, b);
        Assert.Equal(1, d.ExitCode);
        Assert.Equal($"Content mismatch at offset {1536 * 1024}!", d.OutLines[^1]);
    }

    [Fact]
    public void Compare_error_exits_2()
    {
        string a = NewRaw("a.raw");
        CliResult.Run("img", "compare", a, _dir.File("missing.raw")).AssertOneError(2, "no such file");
    }

    [Fact]
    public void Bench_writes_at_each_step_and_prints_run_time()
    {
        string f = NewRaw("a.raw", "1M");
        var r = CliResult.Run("img", "bench", "-w", "--pattern", "0x77", "-c", "4", "-s", "4k", "-S", "64k", "-o", "8k", f);
        r.AssertSuccess();
        Assert.Equal("Sending 4 write requests, 4096 bytes each, 1 in parallel (starting at offset 8192, step size 65536)", r.OutLines[0]);
        Assert.Matches(@"^Run completed in \d+\.\d{3} seconds\.$", r.OutLines[1]);
        Assert.Matches(@"^\d+ ops/s, ", r.OutLines[2]);
        byte[] disk = File.ReadAllBytes(f);
        for (int i = 0; i < 4; i++) Assert.Equal(0x77, disk[8192 + i * 65536]);
        Assert.Equal(0, disk[8192 + 4 * 65536]);
        Assert.Equal(0, disk[8192 + 65536 - 1]);
    }

    [Fact]
    public void Bench_wraps_like_qemu_img_and_never_runs_past_the_end()
    {
        string f = NewRaw("a.raw", "64k");
        // 16 KiB requests on a 64 KiB image: offsets 0,16k,32k, then 48k % (64k-16k) = 0 again.
        var r = CliResult.Run("img", "bench", "-c", "10", "-s", "16k", f);
        r.AssertSuccess();
    }

    [Theory]
    [InlineData(ExitCodes.Usage, "request count 0", "-c", "0")]
    [InlineData(ExitCodes.Usage, "queue depth", "-d", "4")]
    [InlineData(ExitCodes.Usage, "only meaningful with -w", "--flush-interval", "2")]
    [InlineData(ExitCodes.ImageFormat, "beyond the image size", "-o", "4M")]
    public void Bench_rejects_bad_parameters(int code, string message, string option, string value)
    {
        string f = NewRaw("a.raw", "1M");
        CliResult.Run("img", "bench", option, value, f).AssertOneError(code, message);
    }

    [Fact]
    public void Bench_allocates_nothing_per_request()
    {
        string f = NewRaw("a.raw", "4M");
        CliResult.Run("img", "bench", "-w", "-c", "16", f).AssertSuccess(); // JIT and first-use costs
        long before = GC.GetAllocatedBytesForCurrentThread();
        CliResult.Run("img", "bench", "-w", "-c", "16", f).AssertSuccess();
        long small = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        CliResult.Run("img", "bench", "-w", "-c", "20000", f).AssertSuccess();
        long large = GC.GetAllocatedBytesForCurrentThread() - before;
        // 19984 more requests may not cost even one byte each.
        Assert.True(large - small < 19984, $"bench allocated {large - small} more bytes for 19984 more requests");
    }
}
