using System.IO.Compression;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// A temporary working directory for tests that drive the `minivm` executable: files named in it, runs of minivm
/// inside it (each bounded by the test's time limit), and the FreeDOS hard disk converted to iROW there. Deleted on
/// dispose.
/// </summary>
public sealed class MiniVmWorkDir : IDisposable
{
    private readonly TimeSpan _limit;

    public MiniVmWorkDir(string prefix, TimeSpan limit)
    {
        Root = Directory.CreateTempSubdirectory(prefix).FullName;
        _limit = limit;
    }

    public string Root { get; }

    public string PathOf(string name) => Path.Combine(Root, name);

    /// <summary>Runs minivm here; the caller judges the exit code.</summary>
    public MiniVmProcess.Result Run(params string[] args) => MiniVmProcess.Run(Root, _limit, args);

    /// <summary>Runs minivm here and fails the test unless it exits 0.</summary>
    public MiniVmProcess.Result RunOk(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, $"minivm {string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr}");
        return r;
    }

    /// <summary>FreeDOS's 32 MiB hard disk unpacked to hdd.raw and converted by `minivm img convert` to hdd.irow; returns hdd.irow.</summary>
    public string FreeDosHardDiskAsIrow()
    {
        string raw = PathOf("hdd.raw");
        using (var gz = new GZipStream(File.OpenRead(MiniVmProcess.Guest("freedos-hdd-32m.img.gz")), CompressionMode.Decompress))
        using (var f = File.Create(raw)) gz.CopyTo(f);
        RunOk("img", "convert", "-O", "irow", raw, PathOf("hdd.irow"));
        return PathOf("hdd.irow");
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
