using System.Diagnostics;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Image locking seen from the command line, against the other users of an image: a running `minivm run`, real
/// qemu-img and qemu-io. Locks are QEMU's OFD byte locks, so each side refuses the other with QEMU's wording; the
/// refused minivm command prints one line and exits 75.
/// </summary>
public sealed class ImageLockCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CliResult Run(params string[] args) => CliResult.Run(args);

    /// <summary>Waits until some process holds an OFD lock on <paramref name="path"/> (the VM or qemu-io has opened it).</summary>
    private static void WaitForLock(string path, Process holder)
    {
        var stat = Process.Start(new ProcessStartInfo("stat", ["-L", "-c", "%i", path]) { RedirectStandardOutput = true })!;
        string inode = ":" + stat.StandardOutput.ReadToEnd().Trim() + " ";
        stat.WaitForExit();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(180))
        {
            if (File.ReadAllLines("/proc/locks").Any(l => l.Contains("OFDLCK", StringComparison.Ordinal) && l.Contains(inode, StringComparison.Ordinal)))
                return;
            if (holder.HasExited) Assert.Fail($"the holder exited ({holder.ExitCode}) before locking {path}");
            Thread.Sleep(100);
        }
        Assert.Fail($"nothing locked {path} within 180 s");
    }

    [Fact]
    public void A_running_vm_holds_its_disk_against_minivm_qemu_img_and_qemu_io()
    {
        string disk = _dir.File("disk.qcow2");
        Run("img", "create", "-f", "qcow2", disk, "1M").AssertSuccess();
        using var vm = MiniVmChild.Start(_dir.Path, "run", "--serial", "none", "--memory", "16", "--timeout", "600",
            "--drive", MiniVmChild.IdleGuestDrive, "--drive", $"if=ide,index=1,format=qcow2,file={disk}");
        try
        {
            WaitForLock(disk, vm);
            Run("img", "snapshot", "-c", "s1", disk).AssertOneError(75, "Failed to get \"write\" lock. Is another process using the image [");
            Run("io", "-c", "write 0 512", disk).AssertOneError(75, "Failed to get \"write\" lock");
            Run("img", "info", disk).AssertOneError(75, "Failed to get shared \"write\" lock");
            // check keeps qemu-img's rule: anything that stops it is exit 1.
            Run("img", "check", disk).AssertOneError(1, "Failed to get shared \"write\" lock");
            var info = Run("img", "info", "-U", disk);
            info.AssertSuccess();
            Assert.Contains("file format: qcow2", info.Out);
            var read = Run("io", "-r", "-U", "-c", "read -P 0 0 512", disk);
            read.AssertSuccess();
            Run("io", "-U", "-c", "write 0 512", disk).AssertOneError(64, "--force-share/-U can only be used with read-only images");

            var qemuInfo = QemuImg.Run("qemu-img", "info", disk);
            Assert.NotEqual(0, qemuInfo.ExitCode);
            Assert.Contains("Failed to get shared \"write\" lock", qemuInfo.Err);
            var qemuWrite = QemuImg.Run("qemu-io", "-c", "write 0 512", disk);
            Assert.Contains("Failed to get \"write\" lock", qemuWrite.Err);
            Assert.Equal(0, QemuImg.Run("qemu-img", "info", "-U", disk).ExitCode);
        }
        finally
        {
            vm.Kill(entireProcessTree: true);
            vm.WaitForExit();
        }
        Run("img", "snapshot", "-c", "s1", disk).AssertSuccess();
    }

    [Fact]
    public void Minivm_refuses_an_image_qemu_io_has_open_for_writing()
    {
        string disk = _dir.File("q.qcow2");
        QemuImg.Img("create", "-f", "qcow2", disk, "1M");
        var psi = new ProcessStartInfo("qemu-io") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-f");
        psi.ArgumentList.Add("qcow2");
        psi.ArgumentList.Add(disk);
        using var qemuIo = Process.Start(psi)!;
        try
        {
            WaitForLock(disk, qemuIo);
            Run("io", "-c", "write 0 512", disk).AssertOneError(75, "Failed to get \"write\" lock");
            Run("img", "info", disk).AssertOneError(75, "Failed to get shared \"write\" lock");
            Run("img", "map", "-U", disk).AssertSuccess();
        }
        finally
        {
            qemuIo.StandardInput.Close(); // qemu-io ends at end of input
            if (!qemuIo.WaitForExit(60_000)) qemuIo.Kill();
        }
        Run("io", "-c", "write 0 512", disk).AssertSuccess();
    }
}
