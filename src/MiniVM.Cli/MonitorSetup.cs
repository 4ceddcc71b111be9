using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Machine;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Monitor;
using MiniVM.Machine.Snapshots;

namespace MiniVM.Cli;

/// <summary>
/// The monitor side of `minivm run`: `--loadvm` before the first instruction, the monitor transport from the
/// configuration (stdio or loopback TCP) and `--monitor-script`, whose commands and answers are echoed on stdout.
/// </summary>
internal sealed class MonitorSetup
{
    public MonitorChannel? Channel { get; private init; }
    public TcpMonitor? Tcp { get; private init; }
    public MonitorScript? Script { get; private init; }
    public Action<string>? ScriptOutput { get; private init; }

    /// <summary>Returns null and the setup, or an exit code after printing the one-line reason.</summary>
    public static int? Prepare(CliContext context, PcMachine machine, VmOptions options, string? loadVm, string? scriptFile, out MonitorSetup setup)
    {
        setup = new MonitorSetup();
        try
        {
            var script = scriptFile is null ? null : MonitorScript.Load(scriptFile);
            machine.SnapshotNotice ??= line => context.Err.WriteLine($"minivm: {line}");
            if (loadVm is not null) machine.LoadVm(loadVm);
            MonitorChannel? channel = null;
            TcpMonitor? tcp = null;
            if (options.Monitor.Kind == MonitorKind.Stdio)
            {
                channel = new MonitorChannel();
                StdioMonitor.Start(channel, Console.OpenStandardInput(), context.Out);
            }
            else if (options.Monitor.Kind == MonitorKind.Tcp)
            {
                channel = new MonitorChannel();
                tcp = new TcpMonitor(options.Monitor.Port, channel);
                context.Err.WriteLine($"minivm: monitor listening on 127.0.0.1:{tcp.Port}");
            }
            var output = context.Out;
            setup = new MonitorSetup
            {
                Channel = channel,
                Tcp = tcp,
                Script = script,
                ScriptOutput = script is null ? null : line => { lock (output) { output.WriteLine(line); output.Flush(); } },
            };
            return null;
        }
        catch (MonitorException e) { return Fail(context, e.Message, ExitCodes.Usage); }
        catch (SnapshotException e) { return Fail(context, e.Message, ExitCodes.Failure); }
        catch (StateFormatException e) { return Fail(context, e.Message, ExitCodes.ImageFormat); }
        catch (ImageFormatException e) { return Fail(context, e.Message, ExitCodes.ImageFormat); }
        catch (IOException e) { return Fail(context, e.Message, ExitCodes.IoError); }
    }

    private static int Fail(CliContext context, string message, int code)
    {
        context.Err.WriteLine("minivm: " + message);
        return code;
    }
}
