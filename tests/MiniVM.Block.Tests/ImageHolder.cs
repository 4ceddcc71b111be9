using System.Diagnostics;

namespace MiniVM.Block.Tests;

/// <summary>
/// Another process that has an image open (the crash writer's "hold" mode) and so holds its locks until disposed:
/// OFD locks of two opens in one process would also conflict, but a lock is about other processes.
/// </summary>
internal sealed class ImageHolder : IDisposable
{
    private readonly Process _process;

    public ImageHolder(string image, bool readOnly = false)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { CrashRounds.WriterPath(), image, "hold" }) psi.ArgumentList.Add(a);
        if (readOnly) psi.ArgumentList.Add("ro");
        _process = Process.Start(psi)!;
        string? line = _process.StandardOutput.ReadLine();
        if (line != "READY") Assert.Fail($"holder did not open {image}: {line} {_process.StandardError.ReadToEnd()}");
    }

    public void Dispose()
    {
        _process.StandardInput.Close();
        if (!_process.WaitForExit(60_000)) _process.Kill();
        _process.Dispose();
    }

    /// <summary>The byte offsets locked on <paramref name="path"/>'s inode, from /proc/locks (OFD locks only).</summary>
    public static List<long> LockedBytes(string path)
    {
        var stat = Process.Start(new ProcessStartInfo("stat", ["-L", "-c", "%i", path]) { RedirectStandardOutput = true })!;
        string inode = ":" + stat.StandardOutput.ReadToEnd().Trim() + " ";
        stat.WaitForExit();
        var bytes = new List<long>();
        foreach (var line in File.ReadAllLines("/proc/locks"))
        {
            if (!line.Contains("OFDLCK", StringComparison.Ordinal) || !line.Contains(inode, StringComparison.Ordinal)) continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long from = long.Parse(f[^2]), to = long.Parse(f[^1]);
            for (long b = from; b <= to; b++) bytes.Add(b);
        }
        bytes.Sort();
        return bytes;
    }
}
