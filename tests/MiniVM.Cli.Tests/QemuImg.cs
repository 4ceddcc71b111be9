using System.Diagnostics;

namespace MiniVM.Cli.Tests;

/// <summary>
/// The real qemu-img / qemu-io (Debian qemu-utils), as the reference the commands are compared with.
/// When missing, the interop tests fail saying what to install instead of passing silently.
/// </summary>
internal static class QemuImg
{
    public static CliResult Run(string tool, params string[] args)
    {
        string path = Find(tool);
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish in 120 s");
        }
        return new CliResult(p.ExitCode, so.Result, se.Result);
    }

    public static CliResult Img(params string[] args)
    {
        var r = Run("qemu-img", args);
        Assert.True(r.ExitCode == 0, $"qemu-img {string.Join(' ', args)} exited {r.ExitCode}: {r.Err}");
        return r;
    }

    private static string Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            string p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        throw new InvalidOperationException($"{tool} not found on PATH: these tests need qemu-utils (apt-get install -y qemu-utils)");
    }
}
