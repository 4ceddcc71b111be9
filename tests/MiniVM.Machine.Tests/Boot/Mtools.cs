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

    /// <summary>Writes <paramref name="text"/> as <paramref name="file"/> (replacing it) in the FAT partition at <paramref name="offset"/>.</summary>
    public static void Write(string image, long offset, string file, string text)
    {
        string source = Path.Combine(Path.GetDirectoryName(image)!, "mtools-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(source, text);
        var psi = new ProcessStartInfo("mcopy") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-o", "-i", $"{image}@@{offset}", source, file }) psi.ArgumentList.Add(a);
        psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("mtools (mcopy) is not installed: apt-get install mtools");
        p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        File.Delete(source);
        Assert.True(p.ExitCode == 0, $"mcopy failed: {err}");
    }
}
