using System.Diagnostics;
using MiniVM.Block;

namespace MiniVM.Cli.Tests;

/// <summary>
/// iROW's meta file is replaced by a rename on every snapshot step; the writer's lock moves with it (the new file is
/// locked before it takes the name), so another minivm process that opens the image at any moment finds it held.
/// </summary>
public sealed class IrowMetaLockTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The OFD lock bytes on the inode <paramref name="path"/> names now, from /proc/locks.</summary>
    private static List<long> LockedBytes(string path)
    {
        var stat = Process.Start(new ProcessStartInfo("stat", ["-L", "-c", "%i", path]) { RedirectStandardOutput = true })!;
        string inode = ":" + stat.StandardOutput.ReadToEnd().Trim() + " ";
        stat.WaitForExit();
        var bytes = new List<long>();
        foreach (var line in File.ReadAllLines("/proc/locks"))
        {
            if (!line.Contains("OFDLCK", StringComparison.Ordinal) || !line.Contains(inode, StringComparison.Ordinal)) continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (long b = long.Parse(f[^2]); b <= long.Parse(f[^1]); b++) bytes.Add(b);
        }
        bytes.Sort();
        return bytes;
    }

    [Fact]
    public void The_meta_file_stays_locked_across_its_replacements_and_another_minivm_is_refused()
    {
        string disk = _dir.File("disk.irow");
        CliResult.Run("img", "create", "-f", "irow", disk, "1M").AssertSuccess();
        using (var writer = ImageFormats.Default.Open(disk, "irow"))
        {
            var store = (ISnapshotStore)writer;
            foreach (string name in new[] { "one", "two" })
            {
                store.CreateSnapshot(name);
                Assert.Equal([100L, 101, 103, 201, 203], LockedBytes(disk));
                var w = MiniVmChild.Run(_dir.Path, "io", "-c", "write 0 4k", disk);
                Assert.Equal(75, w.ExitCode);
                Assert.Contains("Failed to get \"write\" lock", w.Err);
                var r = MiniVmChild.Run(_dir.Path, "img", "snapshot", "-l", disk);
                Assert.Equal(75, r.ExitCode);
                Assert.Contains("Failed to get shared \"write\" lock", r.Err);
                Assert.Equal(0, MiniVmChild.Run(_dir.Path, "img", "snapshot", "-l", "-U", disk).ExitCode);
            }
        }
        Assert.Empty(LockedBytes(disk));
        Assert.Equal(0, MiniVmChild.Run(_dir.Path, "io", "-c", "write 0 4k", disk).ExitCode);
    }
}
