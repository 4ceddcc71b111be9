namespace MiniVM.Machine.Configuration;

/// <summary>
/// The machine's configuration as values: what <see cref="VmConfigLoader"/> makes of `vm.json`, the environment and
/// the command line once every key, value and cross-field rule has been checked. Nothing downstream compares option
/// strings or re-checks a rule; a front end that must decide something the file left open (a clock or display of
/// "auto") makes a changed copy with `with`.
/// </summary>
public sealed record VmOptions
{
    public MachineOptions Machine { get; init; } = new();
    public required FirmwareFiles Firmware { get; init; }
    public IReadOnlyList<DriveOptions> Drives { get; init; } = [];
    /// <summary>QEMU's -boot order, checked: one to three of the letters a, c, d, n, each once, lower case.</summary>
    public string Boot { get; init; } = "cad";
    public SerialSink Serial { get; init; } = SerialSink.Stdio;
    public MonitorEndpoint Monitor { get; init; } = MonitorEndpoint.None;
    public DisplayKind Display { get; init; } = DisplayKind.Auto;
    /// <summary>How guest time runs; null is `auto`, which the front end decides (paced on a terminal, else virtual).</summary>
    public ClockMode? Clock { get; init; }
}

public sealed record MachineOptions
{
    /// <summary>Guest RAM in MiB, 1..<see cref="VmConfigLoader.MaxMemoryMiB"/>.</summary>
    public int Memory { get; init; } = 128;
    public MiniVM.Cpu.CpuEngine CpuEngine { get; init; } = MiniVM.Cpu.CpuEngine.Jit;
    /// <summary>What the RTC reads at power-on (UTC); null is the host's time when the machine is built (`now`).</summary>
    public DateTime? Rtc { get; init; }

    public DateTime RtcStart() => Rtc ?? DateTime.UtcNow;
}

/// <summary>SeaBIOS and SeaVGABIOS, as full paths.</summary>
public sealed record FirmwareFiles(string Bios, string VgaBios);

/// <summary>Where the guest's screen goes (`display`).</summary>
public enum DisplayKind
{
    /// <summary>The text display when standard input and output are a terminal, else none.</summary>
    Auto,
    /// <summary>No screen (`--screenshot`/`--screen-dump` still save it); the serial port is the console.</summary>
    None,
    /// <summary>The VGA text screen on the terminal, as QEMU's `-display curses`.</summary>
    Curses,
    /// <summary>An SDL2 window.</summary>
    Sdl,
}
