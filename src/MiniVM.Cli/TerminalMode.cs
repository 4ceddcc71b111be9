using System.Diagnostics;

namespace MiniVM.Cli;

/// <summary>
/// The terminal in raw mode for the text display (keys arrive one by one, unechoed, Ctrl+C as a byte for the guest),
/// put back as it was on <see cref="Dispose"/>. Uses stty on the inherited standard input, as a shell would.
/// </summary>
public sealed class TerminalMode : IDisposable
{
    private readonly string _saved;

    private TerminalMode(string saved) { _saved = saved; }

    /// <summary>Raw mode, or null when stty cannot manage standard input (not a terminal).</summary>
    public static TerminalMode? EnterRaw()
    {
        string? saved = Stty("-g");
        if (saved is null || Stty("raw", "-echo") is null) return null;
        return new TerminalMode(saved.Trim());
    }

    public void Dispose() => Stty(_saved);

    private static string? Stty(params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo("stty") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi);
            if (p is null) return null;
            string output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }
}
