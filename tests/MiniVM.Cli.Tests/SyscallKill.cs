using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace MiniVM.Cli.Tests;

/// <summary>
/// The syscall crash harness of issue 11: runs one `minivm` operation as a child under strace, once to count its
/// writes, fsyncs, truncates and renames, then once per kill point with
/// <c>-e inject=SYSCALL:signal=KILL:when=N</c>, restoring the files between runs. The caller checks each state the
/// kill left. Counting is per syscall and per thread (strace's rule), so N walks up to the busiest thread's count.
/// CI walks every fsync/fdatasync/ftruncate/rename point and a sample of the (pwrite64, write) points;
/// MINIVM_CRASH_CAMPAIGN=N (N &gt; 1) walks every point of every kind.
/// </summary>
internal static partial class SyscallKill
{
    public static readonly string[] Syscalls = ["pwrite64", "write", "fsync", "fdatasync", "ftruncate", "rename"];

    /// <summary>Write points per kind walked in CI; the rest only in a full campaign.</summary>
    private const int WriteSample = 4;

    /// <summary>At most this many points per operation in CI (every rename is always kept).</summary>
    private const int CiPoints = 16;

    public static bool FullCampaign => int.TryParse(Environment.GetEnvironmentVariable("MINIVM_CRASH_CAMPAIGN"), out int n) && n > 1;

    public static string MinivmDll
    {
        get
        {
            string dll = System.IO.Path.Combine(AppContext.BaseDirectory, "minivm.dll");
            Assert.True(File.Exists(dll), dll);
            return dll;
        }
    }

    /// <summary>The kill points of <paramref name="args"/> run in <paramref name="dir"/>: (syscall, N) pairs.</summary>
    public static List<(string Syscall, int N)> KillPoints(string dir, string[] args)
    {
        string log = System.IO.Path.Combine(dir, "..", $"strace-{Guid.NewGuid():N}.log");
        var run = Strace(dir, ["-f", "-o", log, "-e", "trace=" + string.Join(',', Syscalls)], args);
        Assert.True(run.ExitCode == 0, $"{string.Join(' ', args)} failed before any kill: {run.Err}");
        var perThread = new Dictionary<(string, string), int>();
        foreach (var line in File.ReadLines(log))
        {
            var m = CallLine().Match(line);
            if (!m.Success) continue;
            var key = (m.Groups[1].Value, m.Groups[2].Value);
            perThread[key] = perThread.GetValueOrDefault(key) + 1;
        }
        File.Delete(log);
        var points = new List<(string, int)>();
        foreach (var sc in Syscalls)
        {
            int max = perThread.Where(kv => kv.Key.Item2 == sc).Select(kv => kv.Value).DefaultIfEmpty(0).Max();
            bool isWrite = sc is "pwrite64" or "write";
            if (FullCampaign || !isWrite)
                for (int n = 1; n <= max; n++) points.Add((sc, n));
            else
                foreach (int n in Enumerable.Range(0, WriteSample).Select(i => 1 + (int)((long)i * max / WriteSample)).Where(n => n <= max).Distinct())
                    points.Add((sc, n));
        }
        if (FullCampaign || points.Count <= CiPoints) return points;
        var renames = points.Where(p => p.Item1 == "rename").ToList();
        var rest = points.Where(p => p.Item1 != "rename").ToList();
        int keep = Math.Max(1, CiPoints - renames.Count);
        return [.. renames, .. Enumerable.Range(0, keep).Select(i => rest[(int)((long)i * rest.Count / keep)]).Distinct()];
    }

    /// <summary>Runs the operation with a SIGKILL injected at the <paramref name="n"/>-th <paramref name="syscall"/>; returns whether it was killed.</summary>
    public static bool RunKilled(string dir, string[] args, string syscall, int n)
    {
        var r = Strace(dir, ["-f", "-o", "/dev/null", "-e", "trace=" + syscall, "-e", $"inject={syscall}:signal=KILL:when={n}"], args);
        return r.ExitCode != 0;
    }

    internal static CliResult Strace(string dir, string[] straceArgs, string[] args)
    {
        var psi = new ProcessStartInfo("strace") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
        foreach (var a in straceArgs) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add(MinivmDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("these tests need strace (apt-get install -y strace)", e); }
        using (p)
        {
            var so = p.StandardOutput.ReadToEndAsync();
            var se = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(300_000))
            {
                p.Kill(true);
                throw new TimeoutException($"minivm {string.Join(' ', args)} under strace did not finish in 300 s");
            }
            return new CliResult(p.ExitCode, so.Result, se.Result);
        }
    }

    /// <summary>Copies every file of <paramref name="from"/> into <paramref name="to"/>, which is emptied first.</summary>
    public static void Restore(string from, string to)
    {
        if (Directory.Exists(to)) Directory.Delete(to, recursive: true);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, System.IO.Path.Combine(to, System.IO.Path.GetFileName(f)));
    }

    public static string Describe((string Syscall, int N) point) => $"killed at {point.Syscall} #{point.N.ToString(CultureInfo.InvariantCulture)}";

    // "1234 pwrite64(3, ..." or "1234 <... pwrite64 resumed>": count each call once, at its start.
    [GeneratedRegex(@"^(\d+)\s+(pwrite64|write|fsync|fdatasync|ftruncate|rename)\(")]
    private static partial Regex CallLine();
}
