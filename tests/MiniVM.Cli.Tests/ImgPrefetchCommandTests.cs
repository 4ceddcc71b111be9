namespace MiniVM.Cli.Tests;

/// <summary>`minivm img prefetch`: an FVD overlay takes in its base's data, after which the base file can go.</summary>
public sealed class ImgPrefetchCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CliResult Run(params string[] args) => CliResult.Run(args);

    [Fact]
    public void Prefetch_with_progress_then_the_base_is_not_needed()
    {
        var bytes = new byte[3 << 20];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(_dir.File("base.raw"), bytes);
        string image = _dir.File("ov.fvd");
        Run("img", "create", "-f", "fvd", "-b", "base.raw", "-F", "raw", "-o", "block_size=64K", image).AssertSuccess();
        Run("io", "-c", "write -P 0x7e 100000 5000", image).AssertSuccess();
        string expected = _dir.File("expected.raw");
        Run("img", "convert", "-O", "raw", image, expected).AssertSuccess();

        var r = Run("img", "prefetch", "-p", "--no-throttle", image);
        r.AssertSuccess();
        Assert.Equal("(0.00/100%)", r.OutLines[0]);
        Assert.Contains("(100.00/100%)", r.OutLines);
        Assert.Equal("Image prefetched: all data is in the image, the base file is no longer read.", r.OutLines[^1]);

        File.Delete(_dir.File("base.raw"));
        var info = Run("img", "info", image);
        info.AssertSuccess();
        Assert.DoesNotContain("backing file", info.Out);
        Assert.Contains("prefetch: finished (all data in the image)", info.Out);
        Run("img", "compare", "-f", "fvd", "-F", "raw", image, expected).AssertSuccess();
        Assert.Equal(0, Run("img", "check", image).ExitCode);
        // Nothing left to do: a second prefetch is a quick success.
        Run("img", "prefetch", image).AssertSuccess();
    }

    [Fact]
    public void A_running_vm_prefetches_its_fvd_disk_after_the_delay()
    {
        var bytes = new byte[1 << 20];
        new Random(4).NextBytes(bytes);
        File.WriteAllBytes(_dir.File("base.raw"), bytes);
        string image = _dir.File("vm.fvd");
        Run("img", "create", "-f", "fvd", "-b", "base.raw", "-F", "raw", "-o", "block_size=64K,prefetch_start_delay=1", image).AssertSuccess();
        // prefetch_throttle_time (header offset 2204) = 0: no random pauses of up to 30 s on a loaded test machine.
        using (var f = File.OpenWrite(image)) { f.Position = 2204; f.Write(new byte[4]); }
        var run = MiniVmChild.Run(_dir.Path, "run", "--serial", "none", "--memory", "16", "--timeout", "20",
            "--drive", MiniVmChild.IdleGuestDrive, "--drive", $"if=ide,index=1,format=fvd,file={image}");
        Assert.True(run.ExitCode == 3, $"exit {run.ExitCode}: {run.Err}");
        File.Delete(_dir.File("base.raw"));
        var info = Run("img", "info", image);
        info.AssertSuccess();
        Assert.Contains("prefetch: finished (all data in the image)", info.Out);
        File.WriteAllBytes(_dir.File("expected.raw"), bytes);
        Run("img", "compare", "-f", "fvd", "-F", "raw", image, _dir.File("expected.raw")).AssertSuccess();
    }

    [Fact]
    public void A_format_without_prefetch_is_exit_69()
    {
        string image = _dir.File("d.qcow2");
        Run("img", "create", "-f", "qcow2", image, "1M").AssertSuccess();
        Run("img", "prefetch", image).AssertOneError(69, "has no prefetch");
    }
}
