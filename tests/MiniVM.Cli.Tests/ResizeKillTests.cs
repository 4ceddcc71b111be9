using System.Security.Cryptography;
using MiniVM.Block;
using Xunit.Abstractions;

namespace MiniVM.Cli.Tests;

/// <summary>
/// `img resize` of iROW and FVD killed at every fsync, truncate and rename and at a sample of writes
/// (<see cref="SyscallKill"/>): after each kill the image opens, `img check` finds no corruption, and the disk is
/// either the old one or the grown one, never a mix (the new size appears only with everything it needs).
/// </summary>
[Trait("Category", "Crash")]
public sealed class ResizeKillTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public ResizeKillTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    private static void Img(params string[] args) => CliResult.Run(args).AssertSuccess();

    private static string Hash(string image, string? revertTo = null)
    {
        using var d = ImageFormats.Default.Open(image, context: new ImageOpenContext { ReadOnly = revertTo is null });
        if (revertTo is not null) ((ISnapshotStore)d).RevertToSnapshot(revertTo);
        var all = new byte[d.Size];
        d.Read(0, all);
        return Convert.ToHexStringLower(SHA256.HashData(all));
    }

    /// <summary>The hashes of the image before and after the resize, each taken from a fresh copy of the template.</summary>
    private (string Before, string After) Outcomes(string template, string work, string image, string[] resize, string? revertTo)
    {
        SyscallKill.Restore(template, work);
        string before = Hash(Path.Combine(work, image), revertTo);
        SyscallKill.Restore(template, work);
        var r = CliResult.Run([.. resize.Select(a => a == image ? Path.Combine(work, image) : a)]);
        r.AssertSuccess();
        string after = Hash(Path.Combine(work, image), revertTo);
        Assert.NotEqual(before, after);
        return (before, after);
    }

    private void Campaign(string template, string image, string newSize, string? snapshot)
    {
        string work = _dir.File("work");
        string[] args = ["img", "resize", image, newSize];
        var current = Outcomes(template, work, image, args, null);
        var reverted = snapshot is null ? default : Outcomes(template, work, image, args, snapshot);
        SyscallKill.Restore(template, work);
        var points = SyscallKill.KillPoints(work, args);
        int killed = 0;
        foreach (var point in points)
        {
            string where = SyscallKill.Describe(point);
            SyscallKill.Restore(template, work);
            if (SyscallKill.RunKilled(work, args, point.Syscall, point.N)) killed++;
            string img = Path.Combine(work, image);
            var check = CliResult.Run("img", "check", img);
            Assert.True(check.ExitCode is 0 or 3, $"{where}: img check exit {check.ExitCode}: {check.Out}{check.Err}");
            string h = Hash(img);
            Assert.True(h == current.Before || h == current.After, $"{where}: the disk is neither the old one nor the grown one");
            if (snapshot is not null)
            {
                string s = Hash(img, snapshot);
                Assert.True(h == current.Before ? s == reverted.Before : s == reverted.After, $"{where}: snapshot {snapshot} does not read as the size says");
            }
        }
        _output.WriteLine($"minivm {string.Join(' ', args)}: {points.Count} kill points, {killed} killed");
        Assert.True(killed > points.Count / 2, $"only {killed} of {points.Count} runs were killed");
    }

    [Fact]
    public void Irow_grow_with_a_snapshot_killed_at_every_syscall_is_old_or_new()
    {
        string t = Directory.CreateDirectory(_dir.File("template")).FullName;
        string img = Path.Combine(t, "a.irow");
        Img("img", "create", "-f", "irow", "-o", "cluster_size=4K", img, "1M");
        Img("io", "-c", "write -P 0x11 0 512k", img);
        Img("img", "snapshot", "-c", "s1", img);
        Img("io", "-c", "write -P 0x22 4k 64k", img);
        Campaign(t, "a.irow", "4M", "s1"); // 256 clusters to 1024: every btmp is rewritten
    }

    [Fact]
    public void Fvd_grow_killed_at_every_syscall_is_old_or_new()
    {
        string t = Directory.CreateDirectory(_dir.File("template")).FullName;
        string b = Path.Combine(t, "base.raw");
        QemuImg.Img("create", "-q", "-f", "raw", b, "2M");
        QemuImg.Run("qemu-io", "-f", "raw", "-c", "write -P 0x44 0 2M", b);
        string img = Path.Combine(t, "a.fvd");
        Img("img", "create", "-f", "fvd", "-b", "base.raw", "-F", "raw", img, "1M");
        Img("io", "-c", "write -P 0x11 0 64k", img);
        Campaign(t, "a.fvd", "3M", null);
    }
}
