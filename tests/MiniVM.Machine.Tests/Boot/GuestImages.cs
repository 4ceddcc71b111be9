using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// Guest images made by the repository's scripts in images/ (outputs in images/out), built on first use: in a fresh
/// clone any boot test may be the first to need one.
/// </summary>
internal static class GuestImages
{
    /// <summary>The path of images/out/<paramref name="name"/>, running <paramref name="script"/> when it is missing.</summary>
    public static string Get(string script, string name)
    {
        string path = Path.Combine(MiniVmProcess.RepoRoot, "images", "out", name);
        if (File.Exists(path)) return path;
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = MiniVmProcess.RepoRoot, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0 && File.Exists(path), $"{script} failed ({p.ExitCode}): {err.Result}");
        return path;
    }

    /// <summary>Copies an iROW image (meta, btmp and irvd files) into <paramref name="work"/> so boots never change images/out.</summary>
    public static string CopyIrow(string script, string name, MiniVmWorkDir work)
    {
        string meta = Get(script, name);
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(meta)!, name + "*"))
            File.Copy(f, work.PathOf(Path.GetFileName(f)));
        return work.PathOf(name);
    }
}
