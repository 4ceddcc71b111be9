using System.Diagnostics;
using Xunit.Abstractions;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// Issue 11 item 1 with a real guest: FreeDOS copies COMMAND.COM to new files on its iROW IDE disk (one FOR line,
/// its output redirected to COM1, which minivm writes to a host file unbuffered), and the emulator is killed with
/// SIGKILL at a random moment. COPY names each file ("C:\COMMAND.COM => C:\B3") as it starts it, so when the name of
/// file k is on COM1, files 0..k-1 are complete. DOS never flushes; docs/durability.md promises that a process death loses no completed guest write
/// (window: zero). So every file whose completion reached COM1 before the kill must read back whole.
/// MINIVM_CRASH_CAMPAIGN=N runs N times the rounds.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class FreeDosKillTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(6);
    private const long PartitionOffset = 63 * 512;
    /// <summary>One FOR line (a DOS command line holds 127 characters; lines typed while one runs are lost).</summary>
    private const int Files = 25;

    private readonly MiniVmWorkDir _work = new("minivm-kill", Limit);
    private readonly ITestOutputHelper _output;

    public FreeDosKillTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _work.Dispose();

    /// <summary>File names in the order the guest copies them: A0..A9, B0..B9, … (two letters keep a line short).</summary>
    private static string Name(int k) => $"{(char)('A' + k / 10)}{k % 10}";

    [Fact]
    public void Kill_9_while_copying_keeps_every_file_the_guest_reported_complete()
    {
        int factor = int.TryParse(Environment.GetEnvironmentVariable("MINIVM_CRASH_CAMPAIGN"), out int f) && f > 1 ? f : 1;
        int rounds = 2 * factor;
        string image = _work.FreeDosHardDiskAsIrow();
        byte[] source = ExtractFile(_work.PathOf("hdd.raw"), "COMMAND.COM");
        string pristine = _work.PathOf("pristine");
        Directory.CreateDirectory(pristine);
        foreach (var file in Directory.GetFiles(_work.Root, "hdd.irow*")) File.Copy(file, Path.Combine(pristine, Path.GetFileName(file)));

        var rng = new Random(11);
        int reportedTotal = 0, intactTotal = 0;
        for (int round = 0; round < rounds; round++)
        {
            foreach (var file in Directory.GetFiles(_work.Root, "hdd.irow*")) File.Delete(file);
            foreach (var file in Directory.GetFiles(pristine)) File.Copy(file, _work.PathOf(Path.GetFileName(file)));
            int killAfterReports = rng.Next(2, Files - 3);
            int reported = RunAndKill(image, killAfterReports, rng.Next(0, 400));

            Assert.Equal(0, _work.Run("img", "check", image).ExitCode);
            _work.RunOk("img", "convert", "-O", "raw", image, _work.PathOf("back.raw"));
            int intact = 0;
            for (int k = 0; k < reported; k++)
            {
                byte[] copy = ExtractFile(_work.PathOf("back.raw"), Name(k));
                Assert.True(copy.AsSpan().SequenceEqual(source), $"round {round}: file {Name(k)} (reported complete, {k + 1} of {reported}) reads {copy.Length} bytes that differ from COMMAND.COM");
                intact++;
            }
            File.Delete(_work.PathOf("back.raw"));
            reportedTotal += reported;
            intactTotal += intact;
            _output.WriteLine($"round {round}: killed after {reported} reported copies; {intact} of {reported} intact");
        }
        _output.WriteLine($"{rounds} rounds: {intactTotal} of {reportedTotal} reported files intact");
        Assert.True(reportedTotal >= rounds * 3, $"only {reportedTotal} copies were reported in {rounds} rounds");
    }

    /// <summary>Boots FreeDOS, types the copy loops, SIGKILLs minivm once COM1 shows enough reports; returns the reports seen.</summary>
    private int RunAndKill(string image, int killAfterReports, int extraMs)
    {
        string serial = _work.PathOf("com1.log");
        File.Delete(serial);
        string keys = $@"FOR %I IN ({string.Join(' ', Enumerable.Range(0, Files).Select(Name))}) DO COPY /B COMMAND.COM %I>COM1\n";
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = _work.Root, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[]
                 {
                     "exec", Path.Combine(AppContext.BaseDirectory, "minivm.dll"), "run", "--hda", image, "--serial", "file:" + serial,
                     "--timeout", "300", "--sendkeys", keys,
                 })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (Reports(serial) < killAfterReports && !p.HasExited && clock.Elapsed < Limit) Thread.Sleep(20);
        Thread.Sleep(extraMs);
        if (p.HasExited) Assert.Fail($"minivm exited ({p.ExitCode}) before the kill: {stderr.Result}");
        p.Kill(); // SIGKILL
        p.WaitForExit();
        return Reports(serial);
    }

    /// <summary>Files reported complete: every file named on COM1 except the last, which may be in progress.</summary>
    private static int Reports(string serial)
    {
        if (!File.Exists(serial)) return 0;
        using var fs = new FileStream(serial, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var r = new StreamReader(fs);
        string text = r.ReadToEnd();
        int n = 0, at = 0;
        while ((at = text.IndexOf(" => ", at, StringComparison.Ordinal)) >= 0) { n++; at += 4; }
        return Math.Max(0, n - 1);
    }

    /// <summary>A file of the FAT partition, copied out with mtools (binary, unlike mtype).</summary>
    private byte[] ExtractFile(string rawImage, string name)
    {
        string dest = _work.PathOf("extract.bin");
        File.Delete(dest);
        var psi = new ProcessStartInfo("mcopy") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-n", "-i", $"{rawImage}@@{PartitionOffset}", "::" + name, dest }) psi.ArgumentList.Add(a);
        psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("mtools (mcopy) is not installed: apt-get install mtools");
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"mcopy ::{name} failed: {err}");
        return File.ReadAllBytes(dest);
    }
}
