using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// The Debian i386 Linux 6.1 guest (images/build-linux.sh) boots from IDE to its busybox init, which prints
/// MINIVM-LINUX-READY on the serial port. The image is built here when missing (CI runs as root with apt).
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class LinuxBootTests : IDisposable
{
    private readonly MiniVmWorkDir _work = new("minivm-linux", TimeSpan.FromMinutes(16));

    public void Dispose() => _work.Dispose();

    private static string Image(string name)
    {
        string path = Path.Combine(MiniVmProcess.RepoRoot, "images", "out", name);
        if (File.Exists(path)) return path;
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = MiniVmProcess.RepoRoot, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("images/build-linux.sh");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0 && File.Exists(path), $"images/build-linux.sh failed ({p.ExitCode}): {err.Result}");
        return path;
    }

    /// <summary>Copies an iROW image (meta, btmp and irvd files) into the test folder so boots never change images/out.</summary>
    private string CopyIrow(string name)
    {
        string meta = Image(name);
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(meta)!, name + "*"))
            File.Copy(f, _work.PathOf(Path.GetFileName(f)));
        return _work.PathOf(name);
    }

    [Fact]
    public void BootsToTheReadyMarkerFromIrowOverIde()
    {
        string serial = _work.PathOf("serial.txt");
        _work.RunOk("run", "--drive", $"if=ide,index=0,file={CopyIrow("linux.irow")},format=irow",
            "--serial", $"file:{serial}", "--until", "MINIVM-LINUX-READY", "--timeout", "900");
        Assert.Contains("MINIVM-LINUX-READY 6.1.", File.ReadAllText(serial));
    }

    /// <summary>Over virtio-blk (modern transport, the default VM): boots to the marker with the iROW data disk mounted.</summary>
    [Fact]
    public void BootsFromIrowOverVirtioWithTheDataDiskMounted()
    {
        string serial = _work.PathOf("serial.txt");
        _work.RunOk("run",
            "--drive", $"if=virtio,index=0,file={CopyIrow("linux.irow")},format=irow",
            "--drive", $"if=virtio,index=1,file={CopyIrow("data.irow")},format=irow",
            "--serial", $"file:{serial}", "--until", "MINIVM-LINUX-READY", "--timeout", "900");
        string text = File.ReadAllText(serial);
        Assert.Contains("data disk /dev/vdb mounted on /mnt/data", text);
        Assert.Contains("MINIVM-LINUX-READY 6.1.", text);
    }
}
