namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// `minivm run` on a terminal (a tmux pane, as a person would sit at it): with no display option the VGA text screen
/// of a guest that never writes to COM1 (FreeDOS) is drawn on the terminal, keys typed there reach the guest, and
/// Ctrl+A x quits.
/// </summary>
public sealed class TerminalDisplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-tty").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void FreeDosPromptIsShownAndDirTypedOnTheTerminalRunsInTheGuest()
    {
        string floppy = Path.Combine(_dir, "fd.img");
        File.Copy(MiniVmProcess.Guest("freedos722.img"), floppy);
        string minivm = Path.Combine(AppContext.BaseDirectory, "minivm.dll");
        string command = $"dotnet exec '{minivm}' run --fda '{floppy}' --timeout 300; echo MINIVM-EXIT=$?; sleep 60";
        using var pane = new TmuxPane(_dir, command);

        string screen = pane.WaitFor(s => s.Contains(@"A:\>"), "the FreeDOS prompt");
        Assert.Contains("FreeDOS", screen);

        pane.SendKeys("dir", "Enter");
        // The listing scrolls the 25-row screen: the files, their count and the new prompt below them.
        screen = pane.WaitFor(s => System.Text.RegularExpressions.Regex.IsMatch(s, @"file\(s\)[\s\S]*A:\\>"), "the output of dir");
        Assert.Contains("COMMAND  COM", screen);

        pane.SendKeys("C-a", "x");
        screen = pane.WaitFor(s => s.Contains("MINIVM-EXIT="), "minivm to quit");
        Assert.Contains("MINIVM-EXIT=0", screen);
    }
}
