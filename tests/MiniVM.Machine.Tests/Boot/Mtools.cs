using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>The host's view of a FAT file system inside a disk image, through mtools.</summary>
public static class Mtools
{
    /// <summary>The text of <paramref name="file"/> (e.g. "::T.TXT") in the FAT partition at byte <paramref name="offset"/> of <paramref name="image"/>.</summary>
    public static string Type(string image, long offset, string file)
    {
        var psi = new ProcessStartInfo("mtype") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-i");
        psi.ArgumentList.Add($"{image}@@{offset}");
        psi.ArgumentList.Add(file);
        psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("mtools (mtype) is not installed: apt-get install mtools");
        string text = p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"mtype failed: {err}");
        return text;
    }
}
