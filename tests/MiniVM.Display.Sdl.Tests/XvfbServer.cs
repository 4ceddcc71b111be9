using System.Diagnostics;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>A private X server (Xvfb) on a display number it picks itself, for the length of one test.</summary>
public sealed class XvfbServer : IDisposable
{
    private readonly Process _process;

    public XvfbServer(int width = 1280, int height = 1024)
    {
        // -displayfd: the server chooses a free display and writes its number to our pipe once it accepts clients.
        var psi = new ProcessStartInfo("Xvfb") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-displayfd", "1", "-screen", "0", $"{width}x{height}x24", "-nolisten", "tcp" }) psi.ArgumentList.Add(a);
        try { _process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("Xvfb is not installed: the window test needs xvfb, xdotool, imagemagick and libsdl2-2.0-0 (tests/run.sh installs them)", e);
        }
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        var line = _process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(30)) || line.Result is not { } number || !int.TryParse(number, out _))
        {
            Dispose();
            throw new InvalidOperationException("Xvfb did not report a display number within 30 s");
        }
        Display = ":" + number.Trim();
    }

    /// <summary>The DISPLAY value for clients, e.g. ":1".</summary>
    public string Display { get; }

    public void Dispose()
    {
        try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(10_000); } }
        finally { _process.Dispose(); }
    }
}
