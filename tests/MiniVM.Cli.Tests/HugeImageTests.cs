using System.Diagnostics;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Issue 11 item 8: huge legal images in bounded memory. A 4 TiB iROW with 512-byte clusters has a 1 GiB bitmap;
/// `img info` and `img map` run as a child whose GC heap is capped at 192 MiB (DOTNET_GCHeapHardLimit), so reading
/// the whole bitmap would fail them. A raw image the host file system cannot hold is one line and no file.
/// </summary>
public sealed class HugeImageTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CliResult Bounded(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "minivm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0xC000000"; // 192 MiB
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(true);
            throw new TimeoutException($"minivm {string.Join(' ', args)} did not finish in 300 s");
        }
        return new CliResult(p.ExitCode, so.Result, se.Result);
    }

    [Fact]
    public void A_4_TiB_irow_with_512_byte_clusters_answers_info_and_map_in_bounded_memory()
    {
        string img = _dir.File("big.irow");
        CliResult.Run("img", "create", "-f", "irow", "-o", "cluster_size=512", img, "4T").AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x5a 3T 4k", img).AssertSuccess();

        var info = Bounded("img", "info", img);
        Assert.True(info.ExitCode == 0, $"img info: exit {info.ExitCode}: {info.Err}");
        Assert.Contains("virtual size: 4 TiB", info.Out);

        var map = Bounded("img", "map", "--output", "json", img);
        Assert.True(map.ExitCode == 0, $"img map: exit {map.ExitCode}: {map.Err}");
        // Three extents: the empty 3 TiB, the 4 KiB written, the empty rest.
        Assert.Equal(3, map.OutLines.Count(l => l.Contains("\"start\"", StringComparison.Ordinal)));
        Assert.Contains("\"start\": 3298534883328, \"length\": 4096", map.Out);
    }

    [Fact]
    public void A_raw_image_larger_than_the_host_allows_is_one_line_exit_65_and_no_file()
    {
        string img = _dir.File("x.raw");
        var r = CliResult.Run("img", "create", "-f", "raw", img, "1P");
        Assert.Equal(65, r.ExitCode);
        var line = Assert.Single(r.ErrLines);
        Assert.Contains("cannot create a 1125899906842624-byte image", line);
        Assert.False(File.Exists(img));
    }
}
