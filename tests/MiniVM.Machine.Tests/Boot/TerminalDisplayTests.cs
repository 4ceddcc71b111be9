using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// `minivm run` on a terminal (a tmux pane, as a person would sit at it): with no display option the VGA text screen
/// of a guest that never writes to COM1 (FreeDOS) is drawn on the terminal, keys typed there reach the guest, and
/// Ctrl+A x quits.
/// </summary>
public sealed class TerminalDisplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-tty").FullName;
    private readonly string _socket = "minivm-test-" + Guid.NewGuid().ToString("N")[..8];

    public void Dispose()
    {
        Tmux(check: false, "kill-server");
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void FreeDosPromptIsShownAndDirTypedOnTheTerminalRunsInTheGuest()
    {
        string floppy = Path.Combine(_dir, "fd.img");
        File.Copy(MiniVmProcess.Guest("freedos722.img"), floppy);
        string minivm = Path.Combine(AppContext.BaseDirectory, "minivm.dll");
        string command = $"dotnet exec '{minivm}' run --fda '{floppy}' --timeout 300; echo MINIVM-EXIT=$?; sleep 60";
        Tmux(check: true, "new-session", "-d", "-s", "vm", "-x", "100", "-y", "30", "-c", _dir, command);

        string screen = WaitForPane(s => s.Contains(@"A:\>"), "the FreeDOS prompt");
        Assert.Contains("FreeDOS", screen);

        Tmux(check: true, "send-keys", "-t", "vm", "dir", "Enter");
        // The listing scrolls the 25-row screen: the files, their count and the new prompt below them.
        screen = WaitForPane(s => System.Text.RegularExpressions.Regex.IsMatch(s, @"file\(s\)[\s\S]*A:\\>"), "the output of dir");
        Assert.Contains("COMMAND  COM", screen);

        Tmux(check: true, "send-keys", "-t", "vm", "C-a", "x");
        screen = WaitForPane(s => s.Contains("MINIVM-EXIT="), "minivm to quit");
        Assert.Contains("MINIVM-EXIT=0", screen);
    }

    private string WaitForPane(Func<string, bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        string pane = "";
        while (clock.Elapsed < TimeSpan.FromMinutes(4))
        {
            pane = Tmux(check: false, "capture-pane", "-p", "-t", "vm");
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
