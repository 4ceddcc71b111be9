using System.Diagnostics;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>Runs the X tools the window test drives (xdotool, ImageMagick's import/convert) against one display.</summary>
public static class HostTool
{
    public sealed record Result(int ExitCode, byte[] Stdout, string Stderr)
    {
        public string Text => System.Text.Encoding.UTF8.GetString(Stdout).Trim();
    }

    public static Result Run(string? display, string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (display is not null) psi.Environment["DISPLAY"] = display;
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"'{tool}' is not installed: the window test needs xvfb, xdotool, imagemagick and libsdl2-2.0-0 (tests/run.sh installs them)", e);
        }
        using (p)
        {
            p.StandardInput.Close();
            var stdout = new MemoryStream();
            var copy = p.StandardOutput.BaseStream.CopyToAsync(stdout);
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish in 60 s");
            }
            copy.Wait();
            return new Result(p.ExitCode, stdout.ToArray(), stderr.Result);
        }
    }

    /// <summary>Runs a tool that must succeed; its stdout.</summary>
    public static Result Check(string? display, string tool, params string[] args)
    {
        var r = Run(display, tool, args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} failed with exit {r.ExitCode}: {r.Stderr}");
        return r;
    }
}
