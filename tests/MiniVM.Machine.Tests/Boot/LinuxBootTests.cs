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
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(16);
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-linux").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

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
            File.Copy(f, Path.Combine(_dir, Path.GetFileName(f)));
        return Path.Combine(_dir, name);
    }

    [Fact]
    public void BootsToTheReadyMarkerFromIrowOverIde()
    {
        string serial = Path.Combine(_dir, "serial.txt");
        var r = MiniVmProcess.Run(_dir, Limit, "run", "--drive", $"if=ide,index=0,file={CopyIrow("linux.irow")},format=irow",
            "--serial", $"file:{serial}", "--until", "MINIVM-LINUX-READY", "--timeout", "900");
        Assert.True(r.ExitCode == 0, $"minivm run: exit {r.ExitCode}: {r.Stderr}");
        Assert.Contains("MINIVM-LINUX-READY 6.1.", File.ReadAllText(serial));
    }

    /// <summary>Over virtio-blk (modern transport, the default VM): boots to the marker with the iROW data disk mounted.</summary>
    [Fact]
    public void BootsFromIrowOverVirtioWithTheDataDiskMounted()
    {
        string serial = Path.Combine(_dir, "serial.txt");
        var r = MiniVmProcess.Run(_dir, Limit, "run",
            "--drive", $"if=virtio,index=0,file={CopyIrow("linux.irow")},format=irow",
            "--drive", $"if=virtio,index=1,file={CopyIrow("data.irow")},format=irow",
            "--serial", $"file:{serial}", "--until", "MINIVM-LINUX-READY", "--timeout", "900");
        Assert.True(r.ExitCode == 0, $"minivm run: exit {r.ExitCode}: {r.Stderr}");
        string text = File.ReadAllText(serial);
        Assert.Contains("data disk /dev/vdb mounted on /mnt/data", text);
        Assert.Contains("MINIVM-LINUX-READY 6.1.", text);
    }
}
