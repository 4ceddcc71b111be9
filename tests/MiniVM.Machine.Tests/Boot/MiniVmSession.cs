using System.Diagnostics;
using System.Text;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// The built `minivm` executable running with its standard input open, watched the way a person at its serial console
/// watches it: what appears on standard output and when (host wall-clock time), lines typed, and the process's CPU
/// time as top reports it.
/// </summary>
public sealed class MiniVmSession : IDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _out = new();
    /// <summary>For each chunk read from standard output: the output's length after it and when it arrived.</summary>
    private readonly List<(int End, TimeSpan At)> _arrivals = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task _reader;
    private readonly Task<string> _stderr;
    private readonly TimeSpan _limit;
    private readonly string _command;

    /// <param name="limit">The whole session's bound: waits for text and for the exit fail after it.</param>
    public MiniVmSession(string workingDirectory, TimeSpan limit, params string[] args)
    {
        _limit = limit;
        _command = "minivm " + string.Join(' ', args);
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "minivm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        _p = Process.Start(psi)!;
        _reader = Task.Run(() =>
        {
            var buf = new char[4096];
            int n;
            while ((n = _p.StandardOutput.Read(buf, 0, buf.Length)) > 0)
            {
                lock (_out)
                {
                    _out.Append(buf, 0, n);
                    _arrivals.Add((_out.Length, _clock.Elapsed));
                }
            }
        });
        _stderr = _p.StandardError.ReadToEndAsync();
    }

    public string Output { get { lock (_out) return _out.ToString(); } }

    /// <summary>Waits until <paramref name="text"/> appears on standard output at or after <paramref name="from"/>; returns the index just past it.</summary>
    public int WaitFor(string text, int from = 0)
    {
        while (true)
        {
            int at = Output.IndexOf(text, from, StringComparison.Ordinal);
            if (at >= 0) return at + text.Length;
            if (_p.HasExited || _clock.Elapsed > _limit)
                throw new TimeoutException($"{_command}: '{text}' did not appear (exit: {(_p.HasExited ? _p.ExitCode : "still running")}); output ends with: {Tail(Output)}");
            Thread.Sleep(10);
        }
    }

    /// <summary>When (since the start) the output up to <paramref name="end"/> had arrived on the host.</summary>
    public TimeSpan ArrivalOf(int end)
    {
        lock (_out) return _arrivals.First(a => a.End >= end).At;
    }

    /// <summary>Types one line on minivm's standard input (the guest's serial console with `--serial stdio`).</summary>
    public void Type(string line)
    {
        _p.StandardInput.Write(line + "\n");
        _p.StandardInput.Flush();
    }

    /// <summary>User + system CPU time of minivm so far, from /proc/PID/stat.</summary>
    public double CpuSeconds => ProcessCpuSeconds(_p.Id);

    /// <summary>Closes standard input and waits for minivm to exit within what is left of the limit.</summary>
    public MiniVmProcess.Result Finish()
    {
        _p.StandardInput.Close();
        if (!_p.WaitForExit(_limit > _clock.Elapsed ? _limit - _clock.Elapsed : TimeSpan.Zero))
            throw new TimeoutException($"{_command} did not finish in {_limit}; output ends with: {Tail(Output)}");
        _p.WaitForExit();
        _reader.Wait();
        return new MiniVmProcess.Result(_p.ExitCode, Output, _stderr.Result);
    }

    public void Dispose()
    {
        if (!_p.HasExited) _p.Kill(entireProcessTree: true);
        _p.WaitForExit();
        _p.Dispose();
    }

    /// <summary>User + system CPU time of a process, from /proc/PID/stat (fields 14 and 15, in clock ticks), as top reads it.</summary>
    public static double ProcessCpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11]) + long.Parse(fields[12]);
        return ticks / 100.0; // USER_HZ is 100 on Linux
    }

    private static string Tail(string s) => s.Length <= 2000 ? s : s[^2000..];
}
