using System.Diagnostics;

namespace MiniVM.Cli.Tests;

/// <summary>
/// The built `minivm` run as a child process under an address-space limit (prlimit --as), for inputs that
/// could hang or exhaust memory if the program regressed: the test then fails instead of the test host dying.
/// </summary>
public static class MiniVmChild
{
    /// <summary>3 GiB: .NET starts and runs a guest within it; reading /dev/zero whole or a 400 MB line does not.</summary>
    public const long AddressSpaceLimit = 3L << 30;

    public static CliResult Run(string workingDirectory, params string[] args) => Run(workingDirectory, TimeSpan.FromSeconds(120), args);

    /// <summary>
    /// A managed heap limit (DOTNET_GCHeapHardLimit) for runs that must stay small: 96 MiB holds a 16 MiB guest with
    /// room to spare, while an input buffered without bound exhausts it within seconds.
    /// </summary>
    public const long SmallHeap = 96L << 20;

    public static CliResult Run(string workingDirectory, TimeSpan limit, params string[] args) => Run(workingDirectory, limit, null, null, args);

    /// <param name="stdinFile">A file to read standard input from (e.g. /dev/zero); null: stdin closed.</param>
    /// <param name="heapLimit">DOTNET_GCHeapHardLimit in bytes, or null for the runtime's default.</param>
    public static CliResult Run(string workingDirectory, TimeSpan limit, string? stdinFile, long? heapLimit, params string[] args)
    {
        using var p = Start(workingDirectory, stdinFile, heapLimit, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"minivm {string.Join(' ', args)} did not finish within {limit} (a hang)");
        }
        p.WaitForExit();
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts minivm with stdin closed and stdout/stderr redirected; the caller reads and waits.</summary>
    public static Process Start(string workingDirectory, params string[] args) => Start(workingDirectory, null, null, args);

    public static Process Start(string workingDirectory, string? stdinFile, long? heapLimit, params string[] args)
    {
        var psi = new ProcessStartInfo(stdinFile is null ? "prlimit" : "sh")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdinFile is null,
        };
        if (stdinFile is not null)
        {
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec \"$@\" < \"$MINIVM_STDIN\"");
            psi.ArgumentList.Add("sh");
            psi.ArgumentList.Add("prlimit");
            psi.Environment["MINIVM_STDIN"] = stdinFile;
        }
        if (heapLimit is { } heap) psi.Environment["DOTNET_GCHeapHardLimit"] = "0x" + heap.ToString("x");
        // The runtime reserves about 2.3 GiB of the limit up front (GC heap range, executable range), and glibc reserves
        // a 128 MiB malloc arena for every thread that allocates: a VM with its background compiler and an FVD prefetch
        // thread ran out of address space for a thread stack ("Out of memory."). Two arenas keep that fixed.
        psi.Environment["MALLOC_ARENA_MAX"] = "2";
        psi.ArgumentList.Add($"--as={AddressSpaceLimit}");
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "minivm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        if (stdinFile is null) p.StandardInput.Close();
        return p;
    }

    /// <summary>The repository's SeaBIOS, for runs whose working directory is a temporary folder.</summary>
    public static string Bios => Path.Combine(RepoRoot, "firmware", "bios.bin");

    /// <summary>
    /// A `--drive` value for runs that only need a guest that keeps running: FreeDOS from ../shared, read-only (an idle
    /// guest at its prompt; a run with no drive at all ends at once with exit 4).
    /// </summary>
    public static string IdleGuestDrive =>
        "if=floppy,index=0,format=raw,readonly=on,file=" + Path.Combine(RepoRoot, "..", "shared", "guests", "freedos722.img");

    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MiniVM.sln"))) return d.FullName;
        throw new InvalidOperationException("MiniVM.sln not found above " + AppContext.BaseDirectory);
    }
}
