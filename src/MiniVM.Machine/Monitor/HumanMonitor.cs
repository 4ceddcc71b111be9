using System.Globalization;
using System.Text;
using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Machine.Snapshots;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// The monitor's commands in the style of QEMU's HMP (docs/monitor.md). <see cref="Execute"/> runs one command line
/// on the machine thread and returns its answer (empty for commands that answer nothing, like QEMU). Errors never
/// escape: they come back as one line naming the cause.
/// </summary>
public sealed class HumanMonitor(PcMachine machine)
{
    private readonly MemoryDump _memoryDump = new(machine);

    public const string Banner = "MiniVM monitor - type 'help' for more information";
    public const string Prompt = "(minivm) ";

    private static readonly (string Usage, string Text)[] Help =
    [
        ("help [COMMAND]", "list the commands, or the lines of one (help info: every info item)"),
        ("info status|block|snapshots|statehash|sections|jit|jit-stops", "VM state, disks, snapshots, SHA-256 of the whole machine state and of each section, CPU engine and translation statistics, untranslated instructions blocks stop before"),
        ("info registers", "the CPU's registers, in QEMU's layout"),
        ("info mem", "the active virtual memory mappings (runs of pages with the same rights)"),
        ("info tlb", "every present page: virtual address, frame, attribute bits"),
        ("info cpus", "the CPUs and the host thread that runs them"),
        ("info version", "MiniVM's version"),
        ("x /FMT ADDR", "dump memory at a virtual (linear) address; FMT is COUNT, FORMAT (x d u o c i) and SIZE (b h w g)"),
        ("xp /FMT ADDR", "dump memory at a physical address, FMT as for x"),
        ("savevm [NAME]", "save the VM (CPU, RAM, devices, clock) and snapshot every writable disk"),
        ("loadvm NAME", "revert every disk and the VM to a snapshot"),
        ("delvm NAME", "delete a snapshot from every disk"),
        ("change DRIVE FILE [FORMAT]", "put FILE in the CD-ROM drive DRIVE (ide1-cd0); the guest sees a new medium"),
        ("eject [-f] DRIVE", "open the CD-ROM drive's tray and remove its medium (-f: even if the guest locked it)"),
        ("stop", "pause the VM"),
        ("cont", "resume the VM"),
        ("system_reset", "reset the machine"),
        ("system_powerdown", "press the ACPI power button (the guest decides what to do)"),
        ("sendkey KEYS", "press a key combination, QEMU names: ctrl-alt-delete, ret, shift-a"),
        ("sendserial TEXT", "type TEXT on COM1 as a serial terminal would: \\n is Enter, \\t Tab, \\b Backspace, \\e Escape, \\\\ a backslash"),
        ("screendump [-f ppm|png] FILE", "save the screen as PNG (FILE ending in .png) or PPM (any other name)"),
        ("quit", "end the run"),
    ];

    private static readonly HashSet<string> Commands =
        ["help", "?", "info", "x", "xp", "change", "eject", "savevm", "loadvm", "delvm", "stop", "cont", "c", "system_reset", "system_powerdown", "sendkey", "sendserial", "screendump", "quit", "q"];

    /// <summary>Whether <paramref name="word"/> names a monitor command (scripts are checked before the run starts).</summary>
    public static bool IsCommand(string word) => Commands.Contains(word);

    /// <summary>Set by `stop`, cleared by `cont`; the runner executes nothing while it is set.</summary>
    public bool Paused { get; set; }

    /// <summary>The snapshot last saved or loaded here (a window shows it in its title); null before any or once deleted.</summary>
    public string? CurrentSnapshot { get; private set; }

    /// <summary>Set by `quit`; the runner ends the run.</summary>
    public bool QuitRequested { get; private set; }

    public string Execute(string line)
    {
        string trimmed = line.Trim();
        if (trimmed.Length == 0) return "";
        // As in QEMU, a '/' also ends the command name: `x/4x 0x7c00`.
        int end = trimmed.IndexOfAny([' ', '\t', '/']);
        string command = end < 0 ? trimmed : trimmed[..end];
        string args = end < 0 ? "" : trimmed[end..].Trim();
        try
        {
            return command switch
            {
                "help" or "?" => HelpText(args),
                "info" => Info(args),
                "x" => _memoryDump.Run(args, physical: false),
                "xp" => _memoryDump.Run(args, physical: true),
                "savevm" => SaveVm(args),
                "loadvm" => LoadVm(RequireArgument(command, args, "NAME")),
                "delvm" => DeleteVm(RequireArgument(command, args, "NAME")),
                "change" => Change(RequireArgument(command, args, "DRIVE FILE")),
                "eject" => Eject(RequireArgument(command, args, "DRIVE")),
                "stop" => Stop(),
                "cont" or "c" => Continue(),
                "system_reset" => SystemReset(),
                "system_powerdown" => SystemPowerdown(),
                "sendkey" => SendKey(RequireArgument(command, args, "KEYS")),
                "sendserial" => SendSerial(RequireArgument(command, args, "TEXT")),
                "screendump" => ScreenDump(RequireArgument(command, args, "FILE")),
                "quit" or "q" => Quit(),
                _ => $"unknown command: '{command}' (type 'help')",
            };
        }
        catch (Exception e) when (e is MonitorException or SnapshotException or StateFormatException or ImageFormatException or IOException or UnauthorizedAccessException)
        {
            return "Error: " + e.Message;
        }
    }

    private static string RequireArgument(string command, string args, string what) =>
        args.Length > 0 ? args : throw new MonitorException($"{command}: missing {what}");

    /// <summary>Every command, or as QEMU's `help CMD` the lines of one command (`help info`: the info items).</summary>
    private static string HelpText(string command)
    {
        command = command switch { "?" => "help", "c" => "cont", "q" => "quit", _ => command };
        var sb = new StringBuilder();
        foreach (var (usage, text) in Help)
            if (command.Length == 0 || usage.Split(' ')[0] == command)
                sb.Append(CultureInfo.InvariantCulture, $"{usage,-40} -- {text}\n");
        if (sb.Length == 0) throw new MonitorException($"help: unknown command '{command}'");
        return sb.ToString().TrimEnd('\n');
    }

    private string Info(string what) => what switch
    {
        "status" => Paused ? "VM status: paused" : "VM status: running",
        "block" => InfoBlock(),
        "snapshots" => InfoSnapshots(),
        "statehash" => Convert.ToHexStringLower(machine.StateHash()),
        "jit" => $"engine {machine.Cpu.Engine.ToString().ToLowerInvariant()}: {machine.Cpu.JitStatistics}",
        "jit-stops" => machine.Cpu.JitStopsReport(),
        "sections" => string.Join('\n', machine.SectionHashes().Select(h => $"{h.Section,-10} {h.Hash}")),
        // QEMU starts the dump with a blank line and the CPU's number; -a (every CPU) is the same with one CPU.
        "registers" or "registers -a" => "\nCPU#0\n" + RegisterDump.Format(machine.Cpu),
        "mem" => PageTableDump.Mappings(machine.Cpu, machine.Memory),
        "tlb" => PageTableDump.Entries(machine.Cpu, machine.Memory),
        "cpus" => $"* CPU #0: thread_id={HostThread.CurrentId}",
        "version" => MiniVmVersion.Text,
        "" => HelpText("info"), // as QEMU: `info` alone lists the items
        _ => throw new MonitorException($"info: unknown item '{what}' ({InfoItems})"),
    };

    private const string InfoItems = "status, block, snapshots, statehash, sections, jit, jit-stops, registers, mem, tlb, cpus, version";

    private string InfoBlock()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < machine.Disks.Count; i++)
        {
            var d = machine.DiskDrive(i);
            var disk = machine.Disks[i];
            string format = disk.FormatName;
            sb.Append(CultureInfo.InvariantCulture, $"{machine.DiskLabel(i)}: {d.File} ({format}{(disk.IsReadOnly ? ", read-only" : "")})\n");
            sb.Append(CultureInfo.InvariantCulture, $"    Size: {disk.Size} bytes, snapshots: {(disk is ISnapshotStore ? "yes" : "no")}\n");
        }
        foreach (var cd in machine.CdRoms)
        {
            sb.Append(cd.MediumName is { } name
                ? $"{cd.Name}: {name} ({cd.Medium!.FormatName}, read-only)\n"
                : $"{cd.Name}: [not inserted]\n");
            sb.Append($"    Removable device: {(cd.Locked ? "locked" : "not locked")}, tray {(cd.TrayOpen ? "open" : "closed")}\n");
        }
        return sb.Length == 0 ? "no disks" : sb.ToString().TrimEnd('\n');
    }

    // QEMU's `change DEVICE FILE [FORMAT]` for a removable drive.
    private string Change(string args)
    {
        var parts = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 2 or > 3) throw new MonitorException("change: usage: change DRIVE FILE [FORMAT]");
        machine.ChangeMedium(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
        return "";
    }

    // QEMU's `eject [-f] DEVICE`: a drive the guest locked is asked to open, and the command says so.
    private string Eject(string args)
    {
        var parts = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        bool force = parts.Length > 0 && parts[0] == "-f";
        if (parts.Length != (force ? 2 : 1)) throw new MonitorException("eject: usage: eject [-f] DRIVE");
        var cd = machine.FindCdrom(parts[^1], "eject");
        return cd.Eject(force) ? "" : $"Error: eject: device '{cd.Name}' is locked by the guest and -f was not given; the guest was asked to open the tray";
    }

    private string InfoSnapshots()
    {
        var list = machine.ListVmSnapshots();
        if (list.Count == 0) return "There is no snapshot available.";
        var sb = new StringBuilder("List of snapshots present on all disks:\n");
        sb.Append(CultureInfo.InvariantCulture, $"{"ID",-10}{"TAG",-17}{"VM SIZE",8}{"DATE",20}{"VM CLOCK",13}\n");
        foreach (var s in list)
            sb.Append(CultureInfo.InvariantCulture,
                $"{s.Id,-9} {s.Name,-16} {FormatSize(s.VmStateSize),8}{s.Date.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),20}{FormatClock(s.VmClockNanoseconds),13}\n");
        return sb.ToString().TrimEnd('\n');
    }

    private string SaveVm(string name)
    {
        var s = machine.SaveVm(name.Length == 0 ? null : name);
        CurrentSnapshot = s.Name;
        return $"saved '{s.Name}' (id {s.Id}, VM state {FormatSize(s.VmStateSize)})";
    }

    private string LoadVm(string name)
    {
        machine.LoadVm(name);
        CurrentSnapshot = name;
        return "";
    }

    private string DeleteVm(string name)
    {
        machine.DeleteVm(name);
        if (name == CurrentSnapshot) CurrentSnapshot = null;
        return "";
    }

    private string Stop() { Paused = true; return ""; }
    private string Continue() { Paused = false; return ""; }
    private string Quit() { QuitRequested = true; return ""; }

    private string SystemReset()
    {
        machine.Reset();
        return "";
    }

    /// <summary>
    /// QEMU's system_powerdown: a press of the power button, an ACPI event (PM1 PWRBTN_STS and the SCI). Only a guest
    /// that enabled the event hears it; whether it then shuts down is up to the guest's own software.
    /// </summary>
    private string SystemPowerdown() =>
        machine.Power.PressPowerButton() ? "" : "Error: system_powerdown: the guest has not enabled the ACPI power button event";

    private string SendKey(string keys)
    {
        var combo = QemuKeyNames.ParseCombination(keys);
        try
        {
            foreach (var k in combo) machine.Keyboard.QueueKey(k, up: false);
            for (int i = combo.Count - 1; i >= 0; i--) machine.Keyboard.QueueKey(combo[i], up: true);
        }
        catch (InvalidOperationException e) { throw new MonitorException("sendkey: " + e.Message); }
        return "";
    }

    /// <summary>
    /// Text for the guest's serial console, for scripts that drive a shell on ttyS0 through the monitor. Escapes as
    /// for --sendkeys (<see cref="EscapedText"/>); Enter is CR, as a terminal sends it, and the guest's tty turns it
    /// into a line end. The bytes queue in front of the UART's FIFO and flow in as the guest reads.
    /// </summary>
    private string SendSerial(string text)
    {
        string parsed = EscapedText.Parse(text);
        var bytes = new byte[parsed.Length];
        for (int i = 0; i < parsed.Length; i++)
        {
            char c = parsed[i];
            if (c > 0x7F) throw new MonitorException($"sendserial: '{c}' is not ASCII");
            bytes[i] = c == '\n' ? (byte)'\r' : (byte)c;
        }
        int accepted = machine.Serial.Receive(bytes);
        return accepted == bytes.Length ? "" : throw new MonitorException($"sendserial: COM1's input queue is full ({accepted} of {bytes.Length} bytes taken)");
    }

    /// <summary>
    /// Writes a new file or replaces a regular one. QEMU writes wherever the process may; here an existing FIFO,
    /// device or directory is refused too, since opening a FIFO would stall the machine thread until a reader
    /// comes and a device is no picture file.
    /// </summary>
    private string ScreenDump(string args)
    {
        var parts = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string? format = null;
        if (parts.Length == 3 && parts[0] == "-f") { format = parts[1]; parts = parts[2..]; }
        if (parts.Length != 1) throw new MonitorException("screendump: usage: screendump [-f ppm|png] FILE");
        string file = parts[0];
        // QEMU's default is PPM; a name ending in .png asks for PNG, as `-f png` does.
        bool png = format switch
        {
            null => file.EndsWith(".png", StringComparison.OrdinalIgnoreCase),
            "png" => true,
            "ppm" => false,
            _ => throw new MonitorException($"screendump: unknown format '{format}' (ppm or png)"),
        };
        if (HostFiles.NotRegularReason(file) is { } why) throw new MonitorException($"screendump: {file} {why}; give a new or regular file name");
        var frame = machine.Vga.Render();
        using var f = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read);
        if (png) frame.WritePng(f);
        else PortablePixmap.Write(f, frame);
        return "";
    }

    /// <summary>qemu's size_to_str: three significant digits, binary units.</summary>
    public static string FormatSize(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        if (bytes <= 0) return "0 B";
        int unit = 0;
        double v = bytes;
        while (v >= 1000 && unit < units.Length - 1) { v /= 1024; unit++; }
        string s = v.ToString(v >= 100 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
        if (s.Contains('.')) s = s.TrimEnd('0').TrimEnd('.');
        return s + " " + units[unit];
    }

    /// <summary>Guest clock as hours:minutes:seconds.milliseconds, as `info snapshots` shows it in QEMU.</summary>
    public static string FormatClock(long nanoseconds)
    {
        long ms = nanoseconds / 1_000_000;
        return string.Create(CultureInfo.InvariantCulture, $"{ms / 3_600_000:00}:{ms / 60_000 % 60:00}:{ms / 1000 % 60:00}.{ms % 1000:000}");
    }
}
