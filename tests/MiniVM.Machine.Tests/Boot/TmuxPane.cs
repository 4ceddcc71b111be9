using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// A command running in a detached tmux session on a private server: a real terminal, as a person would sit at it.
/// Keys are typed with tmux send-keys and the screen is read with capture-pane; disposing kills the server.
/// </summary>
public sealed class TmuxPane : IDisposable
{
    private readonly string _socket = "minivm-test-" + Guid.NewGuid().ToString("N")[..8];

    public TmuxPane(string workingDirectory, string command, int columns = 100, int rows = 30) =>
        Tmux(check: true, "new-session", "-d", "-s", "vm", "-x", columns.ToString(), "-y", rows.ToString(), "-c", workingDirectory, command);

    public void Dispose() => Tmux(check: false, "kill-server");

    /// <summary>tmux send-keys: literal text or key names (Enter, C-a, C-c).</summary>
    public void SendKeys(params string[] keys) => Tmux(check: true, ["send-keys", "-t", "vm", .. keys]);

    public string Screen() => Tmux(check: false, "capture-pane", "-p", "-t", "vm");

    /// <summary>The screen once <paramref name="done"/> holds; fails with the screen after <paramref name="limit"/> (4 min by default).</summary>
    public string WaitFor(Func<string, bool> done, string what, TimeSpan? limit = null)
    {
        var clock = Stopwatch.StartNew();
        string pane = "";
        while (clock.Elapsed < (limit ?? TimeSpan.FromMinutes(4)))
        {
            pane = Screen();
            if (done(pane)) return pane;
            Thread.Sleep(250);
        }
        throw new TimeoutException($"{what} did not appear on the terminal; it shows:\n{pane}");
    }

    private string Tmux(bool check, params string[] args)
    {
        var psi = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-L");
        psi.ArgumentList.Add(_socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"tmux {string.Join(' ', args)}: {error}");
        return output;
    }
}
