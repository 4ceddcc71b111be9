namespace MiniVM.Cli.Tests;

/// <summary>
/// Backing file names as qemu-img writes and reads them: absolute, or relative to the overlay's folder ("../" too).
/// A name that leads into /proc, /sys or /dev is refused with one line unless --allow-unsafe-paths, and a FIFO or
/// device always, in img, io and run alike.
/// </summary>
public sealed class BackingNameTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CliResult Run(params string[] args) => CliResult.Run(args);

    private string Base()
    {
        string path = _dir.File("base.raw");
        File.WriteAllBytes(path, Enumerable.Repeat((byte)0xAB, 1 << 20).ToArray());
        return path;
    }

    [Fact]
    public void An_absolute_backing_name_written_by_qemu_img_opens_in_io_run_and_info()
    {
        string baseRaw = Base();
        string overlay = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-f", "qcow2", "-b", baseRaw, "-F", "raw", overlay);
        Run("io", "-c", "read -P 0xab 0 64k", overlay).AssertSuccess();
        var info = Run("img", "info", "--backing-chain", overlay);
        info.AssertSuccess();
        Assert.Contains("backing file: " + baseRaw, info.Out);
        // The case: run exited 65 here. A timeout (3) means the disk opened and the guest ran.
        var run = MiniVmChild.Run(_dir.Path, "run", "--serial", "none", "--memory", "16", "--timeout", "2",
            "--drive", MiniVmChild.IdleGuestDrive, "--hda", overlay);
        Assert.True(run.ExitCode == 3, $"exit {run.ExitCode}: {run.Err}");
        Assert.DoesNotContain("backing", run.Err);
    }

    [Fact]
    public void A_relative_backing_name_is_relative_to_the_overlays_folder_not_the_working_directory()
    {
        Base();
        Directory.CreateDirectory(_dir.File("sub"));
        string overlay = _dir.File("sub/ov.qcow2");
        QemuImg.Img("create", "-f", "qcow2", "-b", "../base.raw", "-F", "raw", overlay);
        Run("io", "-c", "read -P 0xab 4096 512", overlay).AssertSuccess();
        // minivm writes the same names: an iROW overlay one folder down, read back by minivm, compared by qemu-img.
        string irow = _dir.File("sub/ov.irow");
        Run("img", "create", "-f", "irow", "-b", "../base.raw", irow).AssertSuccess();
        Run("img", "compare", irow, overlay).AssertSuccess();
        string qcow = _dir.File("sub/mine.qcow2");
        Run("img", "create", "-f", "qcow2", "-b", "../base.raw", "-F", "raw", qcow).AssertSuccess();
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", qcow, _dir.File("base.raw")).ExitCode);
    }

    [Fact]
    public void Convert_to_add_cow_over_an_absolute_backing_name()
    {
        string baseRaw = Base();
        string overlay = _dir.File("ov.qcow2");
        QemuImg.Img("create", "-f", "qcow2", "-b", baseRaw, "-F", "raw", overlay);
        Assert.Equal(0, QemuImg.Run("qemu-io", "-c", "write -P 0x5c 8192 4096", overlay).ExitCode);
        string target = _dir.File("out.add-cow");
        Run("img", "convert", "-O", "add-cow", "-B", baseRaw, overlay, target).AssertSuccess();
        Run("img", "compare", overlay, target).AssertSuccess();
        Run("io", "-c", "read -P 0x5c 8192 4096", "-c", "read -P 0xab 0 4096", target).AssertSuccess();
    }

    [Theory]
    [InlineData("/proc/self/environ", "inside /proc")]
    [InlineData("/sys/kernel/uevent_seqnum", "inside /sys")]
    public void A_backing_name_into_a_pseudo_file_tree_is_refused_unless_allowed(string target, string fragment)
    {
        string overlay = _dir.File("evil.qcow2");
        QemuImg.Img("create", "-f", "qcow2", "-u", "-b", target, "-F", "raw", overlay, "1M");
        Run("io", "-c", "read 0 512", overlay).AssertOneError(65, fragment);
        Run("img", "compare", overlay, overlay).AssertOneError(2, fragment);
        Run("io", "--allow-unsafe-paths", "-c", "read 0 512", overlay).AssertSuccess();
        var run = MiniVmChild.Run(_dir.Path, "run", "--serial", "none", "--memory", "16", "--timeout", "60",
            "--drive", MiniVmChild.IdleGuestDrive, "--hda", overlay);
        Assert.Equal(65, run.ExitCode);
        Assert.Contains(fragment, Assert.Single(run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        // A symbolic link does not hide where it leads.
        File.CreateSymbolicLink(_dir.File("innocent.raw"), target);
        string linked = _dir.File("linked.qcow2");
        QemuImg.Img("create", "-f", "qcow2", "-u", "-b", "innocent.raw", "-F", "raw", linked, "1M");
        Run("io", "-c", "read 0 512", linked).AssertOneError(65, fragment);
    }

    [Fact]
    public void A_fifo_or_device_backing_is_refused_with_one_line()
    {
        string fifo = _dir.File("pipe");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo])!)
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        foreach (var (target, what) in new[] { (fifo, "is a FIFO"), ("/dev/zero", "is a character device") })
        {
            string overlay = _dir.File("o.qcow2");
            QemuImg.Img("create", "-f", "qcow2", "-u", "-b", target, "-F", "raw", overlay, "1M");
            Run("io", "-c", "read 0 512", overlay).AssertOneError(65, what);
            Run("io", "--allow-unsafe-paths", "-c", "read 0 512", overlay).AssertOneError(65, what);
            File.Delete(overlay);
        }
    }
}
