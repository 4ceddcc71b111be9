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

    [Fact]
    public void BootsToTheReadyMarkerFromRawOverIde()
    {
        const string image = "linux.raw", format = "raw";
        string serial = Path.Combine(_dir, "serial.txt");
        var r = MiniVmProcess.Run(_dir, Limit, "run", "--drive", $"if=ide,index=0,file={Image(image)},format={format}",
            "--serial", $"file:{serial}", "--until", "MINIVM-LINUX-READY", "--timeout", "900");
        Assert.True(r.ExitCode == 0, $"minivm run: exit {r.ExitCode}: {r.Stderr}");
        Assert.Contains("MINIVM-LINUX-READY 6.1.", File.ReadAllText(serial));
    }
}
