using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>Runs the built `minivm` executable as a child process, the way a user or a script does.</summary>
public static class MiniVmProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>The repository root (the folder with MiniVM.sln above the test binaries).</summary>
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>../shared beside the repository: guest images, specs, CPU tests.</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Guest(string name) => Path.Combine(Shared, "guests", name);

    public static Result Run(string workingDirectory, TimeSpan limit, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "minivm.dll");
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"minivm {string.Join(' ', args)} did not finish in {limit}");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MiniVM.sln"))) return d.FullName;
        throw new InvalidOperationException("MiniVM.sln not found above " + AppContext.BaseDirectory);
    }
}
