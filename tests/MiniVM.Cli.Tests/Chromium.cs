using System.Diagnostics;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Debian's chromium, headless, on a local page: the DOM after its scripts ran, or a screenshot. tests/run.sh installs
/// it; a machine without it fails here with the package to install, never skips.
/// </summary>
internal static class Chromium
{
    public const string Path = "/usr/bin/chromium";

    public static string DumpDom(string url, string profile) => Run(profile, "--dump-dom", url).Stdout;

    public static void Screenshot(string url, string png, string profile) =>
        Run(profile, "--screenshot=" + png, "--window-size=1280,800", "--hide-scrollbars", url);

    private static (string Stdout, string Stderr) Run(string profile, params string[] args)
    {
        Assert.True(File.Exists(Path), $"{Path} is missing: apt-get install chromium (tests/run.sh does)");
        var psi = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // Root in CI needs --no-sandbox; a profile of its own per test keeps parallel runs apart.
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                     "--user-data-dir=" + profile })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException("chromium did not finish within 3 minutes");
        }
        Assert.True(p.ExitCode == 0, $"chromium exit {p.ExitCode}: {stderr.Result}");
        return (stdout.Result, stderr.Result);
    }
}
