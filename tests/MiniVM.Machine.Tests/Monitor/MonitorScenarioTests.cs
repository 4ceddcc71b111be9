using System.Text.RegularExpressions;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests.Monitor;

/// <summary>
/// Whole savevm/loadvm/delvm scenarios driven through `minivm run --monitor-script` in separate processes, as a user
/// or a demo would run them (issue #6).
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed partial class MonitorScenarioTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly MiniVmWorkDir _work = new("minivm-monitor", Limit);

    public void Dispose() => _work.Dispose();

    private string PathOf(string name) => _work.PathOf(name);

    private MiniVmProcess.Result Minivm(params string[] args) => _work.RunOk(args);

    private string Script(string name, string text)
    {
        File.WriteAllText(PathOf(name), text);
        return PathOf(name);
    }

    [GeneratedRegex(@"info statehash\n([0-9a-f]{64})")]
    private static partial Regex StateHash();

    [Fact]
    public void AcrossProcessesLoadvmGivesTheSameScreenAndHash()
    {
        Minivm("img", "create", "-f", "irow", PathOf("d.irow"), "8M");
        string[] common = ["run", "--drive", $"if=floppy,index=0,file={MiniVmProcess.Guest("freedos722.img")},readonly=on",
            "--hda", PathOf("d.irow"), "--boot", "a", "--serial", "none", "--set", "machine.rtc=2026-01-01T00:00:00", "--timeout", "200"];

        var first = Minivm([.. common, "--screen-dump", PathOf("a.txt"), "--monitor-script",
            Script("a.script", "when \"A:\\>\" savevm s1\nafter 20000000i info statehash\nquit\n")]);
        var second = Minivm([.. common, "--loadvm", "s1", "--screen-dump", PathOf("b.txt"), "--monitor-script",
            Script("b.script", "after 20000000i info statehash\nquit\n")]);

        string h1 = StateHash().Match(first.Stdout.ReplaceLineEndings("\n")).Groups[1].Value;
        string h2 = StateHash().Match(second.Stdout.ReplaceLineEndings("\n")).Groups[1].Value;
        Assert.Matches("^[0-9a-f]{64}$", h1);
        Assert.Equal(h1, h2);
        Assert.Contains(@"A:\>", File.ReadAllText(PathOf("b.txt")));
        Assert.Equal(File.ReadAllText(PathOf("a.txt")), File.ReadAllText(PathOf("b.txt")));
    }

    [Fact]
    public void RowPathEndToEndFileGoneAfterLoadvmAndDelvmReclaims()
    {
        string disk = _work.FreeDosHardDiskAsIrow();
        string[] common = ["run", "--hda", disk, "--serial", "none", "--set", "machine.rtc=2026-01-01T00:00:00", "--timeout", "200"];

        // 1. Boot to the prompt, savevm, stop; keep a flat copy of the disk as it is at savevm time.
        var saved = Minivm([.. common, "--monitor-script", Script("1.script", "when \"C:\\>\" savevm s1\ninfo snapshots\nquit\n")]);
        Assert.Matches(@"1\s+s1\s+\d", saved.Stdout);
        Minivm("img", "convert", "-O", "raw", disk, PathOf("atsave.raw"));
        long withState = Usage();

        // 2. From the snapshot the guest writes a file; it is on the disk; loadvm takes the disk back.
        var wrote = Minivm([.. common, "--loadvm", "s1", "--sendkeys", @"echo hello > C:\T.TXT\ndir C:\T.TXT\n",
            "--screen-dump", PathOf("wrote.txt"), "--monitor-script", Script("2.script", "when \"file(s)\" screendump " + PathOf("w.png") + "\nloadvm s1\ninfo status\nquit\n")]);
        Assert.Contains("VM status: running", wrote.Stdout);
        Assert.True(File.Exists(PathOf("w.png")));
        Assert.Contains("FREEDOS-HDD-OK", File.ReadAllText(PathOf("wrote.txt"))); // the screen as it was at savevm
        Assert.DoesNotContain("T        TXT", File.ReadAllText(PathOf("wrote.txt")));
        Assert.Contains("identical", Minivm("img", "compare", disk, PathOf("atsave.raw")).Stdout);

        // 3. delvm: gone from the list, check clean, the VM state's space given back.
        var deleted = Minivm([.. common, "--monitor-script", Script("3.script", "delvm s1\ninfo snapshots\nquit\n")]);
        Assert.Contains("There is no snapshot available.", deleted.Stdout);
        Assert.Equal(0, _work.Run("img", "check", disk).ExitCode);
        Assert.True(Usage() < withState, $"disk usage {Usage()} not below {withState} after delvm");
    }

    /// <summary>Bytes of every file of the iROW image (meta, btmp, irvd).</summary>
    private long Usage()
    {
        long sum = 0;
        foreach (var f in Directory.GetFiles(_work.Root, "hdd.irow*")) sum += new FileInfo(f).Length;
        return sum;
    }
}
