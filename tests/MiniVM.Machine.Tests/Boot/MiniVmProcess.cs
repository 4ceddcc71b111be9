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

    /// <summary>The repository's SeaBIOS and SeaVGABIOS (firmware/fetch-seabios.sh) for machines built in process.</summary>
    public static Configuration.FirmwareFiles Firmware =>
        new(Path.Combine(RepoRoot, "firmware", "bios.bin"), Path.Combine(RepoRoot, "firmware", "vgabios-stdvga.bin"));

    /// <summary>
    /// A 32 MiB machine (fixed RTC, no serial) booting <paramref name="bootSector"/> from a read-only 1.44 MB floppy
    /// written to <paramref name="floppy"/>: the in-process guests the tests assemble themselves.
    /// </summary>
    public static Configuration.VmOptions FloppyBootOptions(string floppy, ReadOnlySpan<byte> bootSector)
    {
        using (var f = File.Create(floppy))
        {
            f.Write(bootSector);
            f.SetLength(1_474_560);
        }
        return new Configuration.VmOptions
        {
            Machine = new Configuration.MachineOptions { Memory = 32, Rtc = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
            Firmware = Firmware,
            Drives = [new Configuration.DriveOptions { Interface = Configuration.DriveInterface.Floppy, Index = 0, File = floppy, Format = "raw", ReadOnly = true }],
            Boot = "a",
            Serial = Configuration.SerialSink.None,
        };
    }

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

    /// <summary>
    /// One line a user types on minivm's standard input (the guest's serial console with `--serial stdio`), once
    /// <see cref="After"/> has appeared on standard output after the previous line was typed.
    /// </summary>
    public sealed record TypedLine(string After, string Line);

    /// <summary>
    /// Runs minivm with its standard input open and types <paramref name="lines"/> one at a time, each when its
    /// cue has appeared on standard output, as a person at the serial console would; then waits for the exit.
    /// </summary>
    public static Result RunTyping(string workingDirectory, TimeSpan limit, IReadOnlyList<TypedLine> lines, params string[] args)
    {
        using var session = new MiniVmSession(workingDirectory, limit, args);
        int from = 0;
        foreach (var typed in lines)
        {
            from = session.WaitFor(typed.After, from);
            session.Type(typed.Line);
        }
        return session.Finish();
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MiniVM.sln"))) return d.FullName;
        throw new InvalidOperationException("MiniVM.sln not found above " + AppContext.BaseDirectory);
    }
}
