using System.Diagnostics;
using System.Text.RegularExpressions;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// images/demo-snapshots.sh (issue #8) as a user runs it: one boot of the default Linux guest, driven through the
/// monitor over TCP (`sendserial`, `savevm`, `loadvm step1`), a map picture of the data disk per step. Asserts what
/// the user sees: VM-state snapshots in `img info`, pictures that differ from step to step, and a guest whose shell,
/// after `loadvm step1`, lists the files of step 1.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class SnapshotDemoTests : IDisposable
{
    private readonly MiniVmWorkDir _work = new("minivm-demo", TimeSpan.FromMinutes(60));

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task LinuxDemoSnapshotsARunningGuestAndBranchesFromStep1()
    {
        string output = _work.PathOf("demo");
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = MiniVmProcess.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("images/demo-snapshots.sh");
        psi.Environment["DEMO_OUT"] = output;
        psi.Environment["MINIVM"] = Path.Combine(AppContext.BaseDirectory, "minivm");
        using (var p = Process.Start(psi)!)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(60));
            try { await p.WaitForExitAsync(limit.Token); }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail("images/demo-snapshots.sh did not finish in 60 minutes");
            }
            Assert.True(p.ExitCode == 0, $"images/demo-snapshots.sh: exit {p.ExitCode}\n{await stdout}\n{await stderr}");
        }

        // The root disk (first writable disk) carries the VM state of every savevm; the data disk has the same snapshots.
        string info = File.ReadAllText(Path.Combine(output, "info.txt"));
        string[] halves = info.Split("== root disk");
        Assert.Equal(2, halves.Length);
        foreach (string tag in new[] { "step0", "step1", "step2", "step3" })
        {
            Assert.Matches($@"\n\d+\s+{tag}\s+0 B ", halves[0]);
            var row = Regex.Match(halves[1], $@"\n\d+\s+{tag}\s+(?<size>[\d.]+) (?<unit>B|KiB|MiB)");
            Assert.True(row.Success, $"no snapshot {tag} on the root disk:\n{halves[1]}");
            Assert.True(row.Groups["unit"].Value != "B", $"snapshot {tag} has no VM state: {row.Value}");
        }
        // The branch: step2 and step3 are both children of step1.
        Assert.Matches(@"step1 \(id \d+\)\n(.*\n)*?\s+[├└]── step2 \(id \d+\)\n(.*\n)*?\s+[├└]── step3", halves[0]);

        // One picture per step, each different from the one before (step 3a: right after loadvm step1).
        string[] steps = ["0", "1", "2", "3a", "3"];
        var pictures = steps.Select(s => File.ReadAllBytes(Path.Combine(output, $"step-{s}.png"))).ToArray();
        foreach (var png in pictures) Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        for (int i = 1; i < pictures.Length; i++)
            Assert.False(pictures[i].AsSpan().SequenceEqual(pictures[i - 1]), $"step-{steps[i]}.png equals step-{steps[i - 1]}.png");
        // Right after loadvm step1 the data disk's view is step 1's again: the same picture, byte for byte.
        Assert.True(pictures[3].AsSpan().SequenceEqual(pictures[1]), "step-3a.png (after loadvm step1) differs from step-1.png");

        // After loadvm step1 the guest's shell lists step 1's files: big2 (deleted in step 2) is back, and notes.txt
        // holds only step 1's line.
        string serial = File.ReadAllText(Path.Combine(output, "serial.log")).Replace("\r", "");
        int back = serial.LastIndexOf("AFTER-LOADVM:\n", StringComparison.Ordinal);
        Assert.True(back >= 0, "the guest never printed AFTER-LOADVM:");
        string afterLoad = serial[back..serial.IndexOf("STEP-3-DONE", back, StringComparison.Ordinal)];
        Assert.Matches(@"\bbig2\b", afterLoad);
        Assert.Contains("first", afterLoad);
        Assert.DoesNotContain("second", afterLoad);
        Assert.Matches(@"\bbranch\b", afterLoad);
        // Before the loadvm, step 2 had deleted big2.
        string step2 = serial[serial.IndexOf("STEP-1-DONE", StringComparison.Ordinal)..serial.IndexOf("STEP-2-DONE", StringComparison.Ordinal)];
        Assert.DoesNotMatch(@"\sbig2\n", step2);
    }
}
