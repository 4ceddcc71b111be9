using System.Diagnostics;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>
/// Runs the real qemu-img / qemu-io (Debian qemu-utils). Interop tests need them: when missing they fail with a
/// message saying what to install, rather than passing silently.
/// </summary>
public static class QemuTools
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    public static string QemuImg => Find("qemu-img");
    public static string QemuIo => Find("qemu-io");

    private static string Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        throw new InvalidOperationException(
            $"{tool} not found on PATH: the qcow2 interop tests need Debian's qemu-utils (apt-get install -y qemu-utils)");
    }

    public static Result Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish in 120 s");
        }
        return new Result(p.ExitCode, so.Result, se.Result);
    }

    /// <summary>Runs qemu-img and requires exit code 0.</summary>
    public static Result Img(params string[] args)
    {
        var r = Run(QemuImg, args);
        Assert.True(r.ExitCode == 0, $"qemu-img {string.Join(' ', args)} exited {r.ExitCode}: {r.All}");
        return r;
    }

    /// <summary>Runs qemu-io on one image with the given commands (-c each) and requires success.</summary>
    public static Result Io(string image, params string[] commands)
    {
        var args = new List<string> { "-f", "qcow2" };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(image);
        var r = Run(QemuIo, args.ToArray());
        Assert.True(r.ExitCode == 0 && !r.All.Contains("failed", StringComparison.OrdinalIgnoreCase),
            $"qemu-io {string.Join(' ', args)} exited {r.ExitCode}: {r.All}");
        return r;
    }

    /// <summary>qemu-img check: exit code (0 clean, 2 corruptions, 3 leaks) and output.</summary>
    public static Result Check(string image) => Run(QemuImg, "check", "-f", "qcow2", image);
}
