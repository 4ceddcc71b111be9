using System.Diagnostics;
using System.IO.Compression;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// FreeDOS's 32 MiB hard disk converted to iROW boots from IDE; a command typed at C:\> writes a file that the
/// host then reads back from the iROW image (convert to raw, then mtools) — the disk path end to end.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class FreeDosHardDiskTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-hdd").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private MiniVmProcess.Result Minivm(params string[] args)
    {
        var r = MiniVmProcess.Run(_dir, Limit, args);
        Assert.True(r.ExitCode == 0, $"minivm {string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr}");
        return r;
    }

    [Fact]
    public void BootsFromIrowOverIdeAndTheTypedFileLandsInTheImage()
    {
        string raw = PathOf("hdd.raw");
        using (var gz = new GZipStream(File.OpenRead(MiniVmProcess.Guest("freedos-hdd-32m.img.gz")), CompressionMode.Decompress))
        using (var f = File.Create(raw)) gz.CopyTo(f);
        Minivm("img", "convert", "-O", "irow", raw, PathOf("hdd.irow"));

        string dump = PathOf("screen.txt");
        Minivm("run", "--hda", PathOf("hdd.irow"), "--serial", "none", "--timeout", "200", "--screen-dump", dump,
            "--sendkeys", @"echo hello > C:\T.TXT\ndir C:\T.TXT\n", "--until", "file(s)");
        string screen = File.ReadAllText(dump);
        Assert.Contains("FREEDOS-HDD-OK", screen);
        Assert.Contains(@"C:\>", screen);
        Assert.Matches(@"T +TXT +8 ", screen);

        // The host's view: the iROW image, flattened, holds the file FreeDOS wrote.
        Minivm("img", "convert", "-O", "raw", PathOf("hdd.irow"), PathOf("back.raw"));
        Assert.Equal("hello \r\n", Mtype(PathOf("back.raw"), 63 * 512, "::T.TXT"));
        Assert.Equal(0, MiniVmProcess.Run(_dir, Limit, "img", "check", PathOf("hdd.irow")).ExitCode);
    }

    private static string Mtype(string image, long offset, string file)
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
