using Microsoft.Extensions.Configuration;

namespace MiniVM.Machine.Configuration;

/// <summary>
/// The whole `vm.json` as written, bound by Microsoft.Extensions.Configuration: property names are the JSON keys
/// (case-insensitive), values are the user's strings. Only <see cref="VmConfigLoader"/> reads it: it checks every
/// value and cross-field rule and turns the document into the typed <see cref="VmOptions"/> the machine is built from.
/// </summary>
public sealed class VmDocument
{
    public MachineDocument Machine { get; set; } = new();
    public FirmwareDocument Firmware { get; set; } = new();
    public List<DriveDocument> Drives { get; set; } = new();
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
}

public sealed class MachineDocument
{
    /// <summary>Guest RAM in MiB.</summary>
    public int Memory { get; set; } = 128;
    /// <summary>CPU model; only the P6-class "p6" exists.</summary>
    public string Cpu { get; set; } = "p6";
    /// <summary>"jit" (hot blocks translated to IL) or "interpreter" (the reference); both give identical runs.</summary>
    [ConfigurationKeyName("cpu-engine")]
    public string CpuEngine { get; set; } = "jit";

    /// <summary>
    /// What the RTC reads at power-on: "now" (the host's UTC time) or a fixed UTC time such as "2026-01-01T00:00:00"
    /// for runs that must be identical from start to end.
    /// </summary>
    public string Rtc { get; set; } = "now";
}

public sealed class FirmwareDocument
{
    /// <summary>SeaBIOS image (128 or 256 KiB), relative to the configuration file's folder.</summary>
    public string Bios { get; set; } = "firmware/bios.bin";
    /// <summary>SeaVGABIOS for the Bochs-VBE PCI VGA, relative to the configuration file's folder.</summary>
    public string VgaBios { get; set; } = "firmware/vgabios-stdvga.bin";
}

public sealed class DriveDocument
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
    /// <summary>"disk" or "cdrom" (ide only: an ATAPI CD-ROM drive, its medium read-only).</summary>
    public string Media { get; set; } = "disk";
    /// <summary>virtio only: "legacy" (1af4:1001) or "modern" (1af4:1042).</summary>
    public string Transport { get; set; } = "modern";

    internal bool IsCdrom => Media.Equals("cdrom", StringComparison.OrdinalIgnoreCase);
}
