using System.Collections.Concurrent;
using System.CommandLine;
using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Devices.Storage;
using MiniVM.Display.Sdl;
using MiniVM.Machine;
using MiniVM.Machine.Configuration;

namespace MiniVM.Cli;

/// <summary>
/// `minivm run`: builds the PC from vm.json (+ environment + command-line overrides) and runs it headless or in an SDL window (`--display sdl`).
/// Exit codes: 0 the `--until` text appeared, the guest powered off (ACPI) or halted, or was stopped; 3 `--timeout` reached first;
/// 78 a configuration error; 65/66/74 image and file errors as for `img`.
/// </summary>
internal static class RunCommand
{
    public const int TimedOut = 3;
    /// <summary>Nothing to boot: no drive configured, or the BIOS found no boot sector on any.</summary>
    public const int NoBootableDevice = 4;
    public const int ConfigError = 78;

    public static Command Create(CliContext context)
    {
        var config = new Option<string?>("--config", "-c") { Description = "VM configuration file (default: ./vm.json when present)", HelpName = "FILE" };
        var set = new Option<string[]>("--set") { Description = "override a configuration key, e.g. machine.memory=256 (repeatable)", HelpName = "KEY=VALUE", AllowMultipleArgumentsPerToken = false };
        var memory = new Option<string?>("--memory", "-m") { Description = "guest RAM in MiB (machine.memory)", HelpName = "MIB" };
        var drive = new Option<string[]>("--drive") { Description = "add a disk: if=ide|floppy|virtio,index=N,file=PATH[,format=FMT][,readonly=on][,media=cdrom] (replaces the configuration's drives)", HelpName = "SPEC" };
        var fda = new Option<string?>("--fda") { Description = "floppy A image (same as --drive if=floppy,index=0,file=FILE)", HelpName = "FILE" };
        var hda = new Option<string?>("--hda") { Description = "first IDE disk (same as --drive if=ide,index=0,file=FILE)", HelpName = "FILE" };
        var hdb = new Option<string?>("--hdb") { Description = "second IDE disk (if=ide,index=1)", HelpName = "FILE" };
        var cdrom = new Option<string?>("--cdrom") { Description = "CD-ROM medium, e.g. an ISO, on the secondary master (if=ide,index=2,media=cdrom)", HelpName = "FILE" };
        var boot = new Option<string?>("--boot") { Description = "boot order letters: a floppy, c hard disk, d CD-ROM (boot)", HelpName = "ORDER" };
        var serial = new Option<string?>("--serial") { Description = "COM1: stdio, none or file:PATH (serial)", HelpName = "DEV" };
        var monitor = new Option<string?>("--monitor") { Description = "monitor: none, stdio or tcp:127.0.0.1:PORT (monitor)", HelpName = "DEV" };
        var display = new Option<string?>("--display") { Description = "none, curses (the text screen on this terminal; default on a terminal) or sdl (display)", HelpName = "KIND" };
        var clock = new Option<string?>("--clock") { Description = "virtual (deterministic; default without a terminal), paced (default on a terminal) or realtime (clock)", HelpName = "KIND" };
        var until = new Option<string?>("--until") { Description = "stop with exit 0 when TEXT appears on the serial port or the text screen (\\n matches a line break)", HelpName = "TEXT" };
        var timeout = new Option<double?>("--timeout")
        {
            Description = "stop with exit 3 after SECONDS of host time", HelpName = "SECONDS",
            CustomParser = result =>
            {
                string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
                    && seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds / 2)
                    return seconds;
                result.AddError($"--timeout '{text}' is not a number of seconds (e.g. 30 or 2.5)");
                return null;
            },
        };
        var screenshot = new Option<string?>("--screenshot") { Description = "save the screen as PNG at exit", HelpName = "PATH.png" };
        var screenDump = new Option<string?>("--screen-dump") { Description = "save the text screen as text at exit", HelpName = "PATH.txt" };
        var sendKeys = new Option<string?>("--sendkeys") { Description = "type TEXT once the guest waits for input (\\n is Enter)", HelpName = "TEXT" };
        var sendKeysAfter = new Option<string?>("--sendkeys-after") { Description = "hold --sendkeys until TEXT has appeared on the serial port or the screen (e.g. the shell's prompt)", HelpName = "TEXT" };
        var debugLog = new Option<string?>("--debug-log") { Description = "write SeaBIOS's debug port (0x402) log to FILE", HelpName = "FILE" };
        var loadVm = new Option<string?>("--loadvm") { Description = "start from the snapshot NAME (VM state and disks), like QEMU's -loadvm", HelpName = "NAME" };
        var eipSamples = new Option<string?>("--eip-samples") { Description = "record the guest's EIP every --eip-sample-interval instructions into FILE (bench/eip-profile.py maps it to symbols)", HelpName = "FILE" };
        var eipInterval = new Option<long>("--eip-sample-interval") { Description = "instructions between two --eip-samples samples (default 100000)", HelpName = "N", DefaultValueFactory = _ => 100_000 };
        var monitorScript = new Option<string?>("--monitor-script") { Description = "run monitor commands at guest-text, virtual-time or instruction triggers (docs/monitor.md)", HelpName = "FILE" };

        var unsafePaths = CliOptions.AllowUnsafePaths();
        var cmd = new Command("run", "boot the virtual machine")
        {
            config, set, memory, drive, fda, hda, hdb, cdrom, boot, serial, monitor, display, clock,
            until, timeout, screenshot, screenDump, sendKeys, sendKeysAfter, debugLog, loadVm, monitorScript,
            eipSamples, eipInterval, unsafePaths,
        };
        cmd.SetAction(parse =>
        {
            VmOptions options;
            try
            {
                string cwd = Directory.GetCurrentDirectory();
                var drives = new List<DriveDocument>();
                foreach (var spec in parse.GetValue(drive) ?? []) drives.Add(VmConfigLoader.ParseDrive(spec, cwd));
                if (parse.GetValue(fda) is { } a) drives.Add(VmConfigLoader.ParseDrive($"if=floppy,index=0,file={a}", cwd));
                if (parse.GetValue(hda) is { } h) drives.Add(VmConfigLoader.ParseDrive($"if=ide,index=0,file={h}", cwd));
                if (parse.GetValue(hdb) is { } h2) drives.Add(VmConfigLoader.ParseDrive($"if=ide,index=1,file={h2}", cwd));
                if (parse.GetValue(cdrom) is { } cd) drives.Add(VmConfigLoader.ParseDrive($"if=ide,index=2,media=cdrom,file={cd}", cwd));
                var shorthands = new List<(string, string)>();
                void Alias(Option<string?> o, string name) { if (parse.GetValue(o) is { } v) shorthands.Add((name, v)); }
                Alias(memory, "--memory"); Alias(boot, "--boot"); Alias(serial, "--serial"); Alias(monitor, "--monitor");
                Alias(display, "--display"); Alias(clock, "--clock");
                options = VmConfigLoader.Load(parse.GetValue(config), parse.GetValue(set) ?? [], shorthands, drives);
                if (parse.GetValue(unsafePaths))
                    options = options with { Drives = [.. options.Drives.Select(d => d with { AllowUnsafePaths = true })] };
            }
            catch (VmConfigException e)
            {
                context.Err.WriteLine("minivm: " + e.Message);
                return ConfigError;
            }

            // Every drive names a regular file that exists, as for `img` (exit 66): a FIFO would block the open.
            foreach (var d in options.Drives)
            {
                if (d.IsCdrom && string.IsNullOrEmpty(d.File)) continue; // an empty CD-ROM drive: no medium yet
                if (!File.Exists(d.File) && !Directory.Exists(d.File))
                    return Fail(context, ExitCodes.NoSuchFile, $"drive {d.Label}: file '{d.File}' not found");
                if (HostFiles.NotRegularReason(d.File) is { } why)
                    return Fail(context, ExitCodes.NoSuchFile, $"drive {d.Label}: '{d.File}' {why}; disk images must be regular files");
            }

            if (parse.GetValue(eipInterval) < 1)
            {
                context.Err.WriteLine($"minivm: --eip-sample-interval must be at least 1 (got {parse.GetValue(eipInterval)})");
                return ConfigError;
            }
            // On a terminal a person is watching: guest time keeps pace with the wall clock and the text screen is shown.
            bool interactive = !Console.IsInputRedirected && !Console.IsOutputRedirected;
            options = options with { Clock = options.Clock ?? (interactive ? ClockMode.Paced : ClockMode.Virtual) };
            var displayKind = options.Display;
            if (displayKind == DisplayKind.Auto)
                displayKind = interactive && options.Monitor.Kind != MonitorKind.Stdio ? DisplayKind.Curses : DisplayKind.None;
            string vmName = options.Drives.Count > 0 ? Path.GetFileName(options.Drives[0].File) : "no drive";

            var serialText = new SerialText();
            var warnings = new List<string>();
            using var serialFile = options.Serial.Path is { } serialPath ? new FileStream(serialPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1) : null;
            Stream? stdout = options.Serial.Kind == SerialSinkKind.Stdio ? Console.OpenStandardOutput() : null;
            var terminal = displayKind == DisplayKind.Curses ? new TerminalDisplay(Console.OpenStandardOutput(), vmName) : null;
            using var debugFile = parse.GetValue(debugLog) is { } dl ? new FileStream(dl, FileMode.Create, FileAccess.Write) : null;
            var outputs = new MachineOutputs
            {
                Serial = b =>
                {
                    serialText.Append(b);
                    if (terminal is not null && stdout is not null) terminal.SerialOut(b);
                    else stdout?.WriteByte(b);
                    serialFile?.WriteByte(b);
                },
                DebugLog = b => debugFile?.WriteByte(b),
                Warning = warnings.Add,
            };

            PcMachine machine;
            try { machine = new PcMachine(options, outputs); }
            catch (Exception e) when (e is VmConfigException or StorageDeviceException)
            {
                // StorageDeviceException: an image the device cannot take (a 32 MiB floppy, an empty disk), a
                // configuration mistake like a wrong value.
                context.Err.WriteLine("minivm: " + e.Message);
                return ConfigError;
            }
            catch (OutOfMemoryException)
            {
                // Guest RAM is one array of machine.memory MiB; a host (or an address-space limit) may refuse it.
                return Fail(context, ExitCodes.IoError, $"machine.memory = {options.Machine.Memory}: the host refused that much guest RAM");
            }
            // Warnings of a machine that was built (not of one that failed: that is one line, the error).
            foreach (var w in warnings) context.Err.WriteLine("minivm: " + w);
            using (machine)
            {
                ConcurrentQueue<byte>? input = null;
                // A serial console on a terminal takes keys as they are typed (raw mode, restored at exit), not lines.
                using var rawSerial = stdout is not null && terminal is null && !Console.IsInputRedirected
                    && options.Monitor.Kind != MonitorKind.Stdio ? TerminalMode.EnterRaw(keepSignals: true) : null;
                if (stdout is not null) input = terminal is null ? StartStdinPump(machine.Clock.Wake, rawSerial is not null) : new ConcurrentQueue<byte>();
                if (MonitorSetup.Prepare(context, machine, options, parse.GetValue(loadVm), parse.GetValue(monitorScript), out var monitorSetup) is { } failed)
                    return failed;
                // After every configuration check, so a wrong value is named first; a machine with nothing to boot would
                // only wait in the BIOS.
                if (options.Drives.Count == 0)
                {
                    context.Err.WriteLine("minivm: no drive to boot from: give --hda, --fda or --drive, or a vm.json with drives (none found in the current folder)");
                    return NoBootableDevice;
                }
                using var tcpMonitor = monitorSetup.Tcp;
                using var sampler = parse.GetValue(eipSamples) is { } sf ? new EipSampler(new StreamWriter(sf), parse.GetValue(eipInterval)) : null;
                var runner = new MachineRunner(machine, serialText)
                {
                    MonitorInput = monitorSetup.Channel,
                    Script = monitorSetup.Script,
                    ScriptOutput = monitorSetup.ScriptOutput,
                    Until = parse.GetValue(until) is { } ut ? EscapedText.Parse(ut) : null,
                    Timeout = parse.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : null,
                    SendKeys = parse.GetValue(sendKeys) is { } k ? EscapedText.Parse(k) : null,
                    SendKeysAfter = parse.GetValue(sendKeysAfter) is { } ka ? EscapedText.Parse(ka) : null,
                    SerialInput = input,
                    Sampler = sampler,
                };
                ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; runner.RequestStop(); };
                Console.CancelKeyPress += onCancel;
                RunOutcome outcome;
                try
                {
                    // The window is optional: MachineWindow says why there is none and runs headless instead.
                    outcome = displayKind switch
                    {
                        DisplayKind.Sdl => MachineWindow.Run(machine, runner, vmName, context.Err),
                        DisplayKind.Curses => terminal!.Run(machine, runner, input, context.Err),
                        _ => runner.Run(),
                    };
                }
                finally { Console.CancelKeyPress -= onCancel; stdout?.Flush(); }

                if (parse.GetValue(screenshot) is { } png)
                {
                    using var f = File.Create(png);
                    machine.Vga.Render().WritePng(f);
                }
                if (parse.GetValue(screenDump) is { } txt) File.WriteAllText(txt, machine.Vga.DumpText());
                machine.FlushDisks();

                string summary = $"{runner.Instructions} instructions, {machine.Clock.Clock.Now / 1e9:0.000} s virtual";
                switch (outcome)
                {
                    case RunOutcome.TimedOut:
                        context.Err.WriteLine($"minivm: timeout after {parse.GetValue(timeout)} s ({summary})" + (runner.Until is { } u ? $"; '{u}' did not appear" : ""));
                        return TimedOut;
                    case RunOutcome.PoweredOff:
                        context.Err.WriteLine($"minivm: the guest powered off ({summary})");
                        return ExitCodes.Success;
                    case RunOutcome.NoBootableDevice:
                        context.Err.WriteLine($"minivm: no bootable device: the BIOS found nothing to boot in the boot order '{options.Boot}' ({summary})");
                        return NoBootableDevice;
                    case RunOutcome.GuestHalted:
                        context.Err.WriteLine($"minivm: the guest halted the CPU with interrupts disabled ({summary})");
                        return ExitCodes.Success;
                    default:
                        if (outcome == RunOutcome.UntilMatched) context.Err.WriteLine($"minivm: '{runner.Until}' appeared ({summary})");
                        return ExitCodes.Success;
                }
            }
        });
        return cmd;
    }

    private static int Fail(CliContext context, int code, string message)
    {
        context.Err.WriteLine("minivm: " + message);
        return code;
    }

    /// <summary>Host keyboard → COM1 when the serial port is on stdio (a background reader; the machine drains it).</summary>
    private const int MaxPendingInput = 1 << 16;

    private static ConcurrentQueue<byte> StartStdinPump(HostWake wake, bool rawTerminal)
    {
        var q = new ConcurrentQueue<byte>();
        var t = new Thread(() =>
        {
            using var stdin = rawTerminal ? TerminalMode.OpenInput() : Console.OpenStandardInput();
            var buf = new byte[256];
            int n;
            while ((n = stdin.Read(buf, 0, buf.Length)) > 0)
            {
                for (int i = 0; i < n; i++) q.Enqueue(buf[i] == (byte)'\n' ? (byte)'\r' : buf[i]);
                wake.Signal();
                // The guest drains this as fast as it reads its UART: a stdin without end (< /dev/zero) waits here
                // rather than filling the host's memory.
                while (q.Count > MaxPendingInput) Thread.Sleep(10);
            }
        }) { IsBackground = true, Name = "stdin" };
        t.Start();
        return q;
    }
}
