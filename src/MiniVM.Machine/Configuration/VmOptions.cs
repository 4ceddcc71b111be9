using Microsoft.Extensions.Configuration;

namespace MiniVM.Machine.Configuration;

/// <summary>
/// The whole `vm.json`, as bound by Microsoft.Extensions.Configuration. Property names are the JSON keys
/// (case-insensitive); every value is validated by <see cref="VmConfigLoader"/> before a machine is built.
/// </summary>
public sealed class VmOptions
{
    public MachineSection Machine { get; set; } = new();
    public FirmwareSection Firmware { get; set; } = new();
    public List<DriveOptions> Drives { get; set; } = new();
    /// <summary>QEMU's -boot order letters: a = floppy, c = first hard disk, d = CD-ROM, n ignored. Default "cad".</summary>
    public string Boot { get; set; } = "cad";
    /// <summary>"stdio", "file:PATH" or "none".</summary>
    public string Serial { get; set; } = "stdio";
    /// <summary>"none", "stdio" or "tcp:127.0.0.1:PORT".</summary>
    public string Monitor { get; set; } = "none";
    /// <summary>"auto" (curses on a terminal, else none), "none" (or "headless"), "curses" or "sdl".</summary>
    public string Display { get; set; } = "auto";
    /// <summary>
    /// "auto" (paced when minivm runs on a terminal, else virtual), "virtual" (driven by executed instructions;
    /// deterministic), "paced" or "realtime" (<see cref="ClockMode"/>).
    /// </summary>
    public string Clock { get; set; } = "auto";

    /// <summary>The display; Auto is for the front end to decide (is there a terminal?).</summary>
    public DisplayKind ParsedDisplay => Display.ToLowerInvariant() switch
    {
        "auto" => DisplayKind.Auto,
        "none" or "headless" => DisplayKind.None,
        "curses" => DisplayKind.Curses,
        "sdl" => DisplayKind.Sdl,
        _ => throw new InvalidOperationException("validated by VmConfigLoader"),
    };

    /// <summary>The clock; "auto" is virtual unless the front end chose paced for an interactive run.</summary>
    public ClockMode ParsedClock => Clock.ToLowerInvariant() switch
    {
        "virtual" or "auto" => ClockMode.Virtual,
        "paced" => ClockMode.Paced,
        "realtime" => ClockMode.Realtime,
        _ => throw new InvalidOperationException("validated by VmConfigLoader"),
    };
}

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

public sealed class MachineSection
{
    /// <summary>Guest RAM in MiB.</summary>
    public int Memory { get; set; } = 128;
    /// <summary>CPU model; only the P6-class "p6" exists.</summary>
    public string Cpu { get; set; } = "p6";
    /// <summary>"jit" (hot blocks translated to IL) or "interpreter" (the reference); both give identical runs.</summary>
    [ConfigurationKeyName("cpu-engine")]
    public string CpuEngine { get; set; } = "interpreter";

    public MiniVM.Cpu.CpuEngine ParsedCpuEngine => CpuEngine.Equals("jit", StringComparison.OrdinalIgnoreCase)
        ? MiniVM.Cpu.CpuEngine.Jit
        : MiniVM.Cpu.CpuEngine.Interpreter;
    /// <summary>
    /// What the RTC reads at power-on: "now" (the host's UTC time) or a fixed UTC time such as "2026-01-01T00:00:00"
    /// for runs that must be identical from start to end.
    /// </summary>
    public string Rtc { get; set; } = "now";

    public DateTime RtcStart() => Rtc.Equals("now", StringComparison.OrdinalIgnoreCase)
        ? DateTime.UtcNow
        : DateTime.Parse(Rtc, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);
}

public sealed class FirmwareSection
{
    /// <summary>SeaBIOS image (128 or 256 KiB), relative to the configuration file's folder.</summary>
    public string Bios { get; set; } = "firmware/bios.bin";
    /// <summary>SeaVGABIOS for the Bochs-VBE PCI VGA, relative to the configuration file's folder.</summary>
    public string VgaBios { get; set; } = "firmware/vgabios-stdvga.bin";
}

public enum DriveInterface { Ide, Floppy, Virtio }

public sealed class DriveOptions
{
    /// <summary>"ide", "floppy" or "virtio".</summary>
    public string Interface { get; set; } = "ide";
    /// <summary>ide: 0..3 (primary master, primary slave, secondary master, secondary slave); floppy: 0..1; virtio: 0..7.</summary>
    public int Index { get; set; }
    /// <summary>The image; may be empty for a CD-ROM drive (no medium in it).</summary>
    public string File { get; set; } = "";
    /// <summary>Image format; probed from the file when empty.</summary>
    public string? Format { get; set; }
    public bool ReadOnly { get; set; }
    /// <summary>`run --allow-unsafe-paths`: names stored in the image may lead where `img --allow-unsafe-paths` allows.</summary>
    public bool AllowUnsafePaths { get; set; }
    /// <summary>"disk" or "cdrom" (ide only: an ATAPI CD-ROM drive, its medium read-only).</summary>
    public string Media { get; set; } = "disk";
    /// <summary>virtio only: "legacy" (1af4:1001) or "modern" (1af4:1042).</summary>
    public string Transport { get; set; } = "modern";

    public DriveInterface ParsedInterface => Interface.ToLowerInvariant() switch
    {
        "ide" => DriveInterface.Ide,
        "floppy" => DriveInterface.Floppy,
        "virtio" => DriveInterface.Virtio,
        _ => throw new InvalidOperationException("validated by VmConfigLoader"),
    };

    public bool IsCdrom => Media.Equals("cdrom", StringComparison.OrdinalIgnoreCase);
}
