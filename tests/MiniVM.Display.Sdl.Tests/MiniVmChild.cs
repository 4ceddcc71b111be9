using System.Diagnostics;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>The built `minivm` run as a child process that the test interacts with while it runs.</summary>
public sealed class MiniVmChild : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout, _stderr;

    public MiniVmChild(string workingDirectory, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "minivm.dll");
        // Through `env --default-signal=INT`: a process started in the background of a non-interactive shell (a CI
        // step, `cmd &` in a script) inherits SIGINT ignored, and .NET then leaves Ctrl+C ignored too, so Interrupt
        // would test nothing but how the test runner was started. A user's Ctrl+C reaches a foreground process.
        var psi = new ProcessStartInfo("env")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        psi.ArgumentList.Add("--default-signal=INT");
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        _process = Process.Start(psi)!;
        _process.StandardInput.Close();
        _stdout = _process.StandardOutput.ReadToEndAsync();
        _stderr = _process.StandardError.ReadToEndAsync();
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Ctrl+C, as a user stops a run from the terminal.</summary>
    public void Interrupt() => HostTool.Check(null, "kill", "-INT", _process.Id.ToString());

    public (int ExitCode, string Stdout, string Stderr) WaitForExit(TimeSpan limit)
    {
        if (!_process.WaitForExit(limit))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"minivm did not exit within {limit}; stderr: {Stderr()}");
        }
        return (_process.ExitCode, _stdout.Result, _stderr.Result);
    }

    /// <summary>What minivm wrote to stderr so far, for failure messages (complete only after exit).</summary>
    public string Stderr() => _stderr.IsCompleted ? _stderr.Result : "(still running)";

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    public static string RepoRoot { get; } = FindRoot();

    public static string Guest(string name) => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "guests", name));

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MiniVM.sln"))) return d.FullName;
        throw new InvalidOperationException("MiniVM.sln not found above " + AppContext.BaseDirectory);
    }
}
