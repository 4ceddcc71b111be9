namespace MiniVM.Machine.Configuration;

/// <summary>One checked drive: interface and index in range and unique, a file (empty only for a CD-ROM drive).</summary>
public sealed record DriveOptions
{
    public DriveInterface Interface { get; init; } = DriveInterface.Ide;
    /// <summary>ide: 0..3 (primary master, primary slave, secondary master, secondary slave); floppy: 0..1; virtio: 0..7.</summary>
    public int Index { get; init; }
    /// <summary>The image, a full path; empty for a CD-ROM drive with no medium.</summary>
    public string File { get; init; } = "";
    /// <summary>Image format; probed from the file when null.</summary>
    public string? Format { get; init; }
    /// <summary>Always true for a CD-ROM drive: its medium is never written.</summary>
    public bool ReadOnly { get; init; }
    /// <summary>`run --allow-unsafe-paths`: names stored in the image may lead where `img --allow-unsafe-paths` allows.</summary>
    public bool AllowUnsafePaths { get; init; }
    public DriveMedia Media { get; init; } = DriveMedia.Disk;
    /// <summary>The PCI transport of a virtio drive (ignored by the others).</summary>
    public VirtioTransport Transport { get; init; } = VirtioTransport.Modern;

    public bool IsCdrom => Media == DriveMedia.Cdrom;

    /// <summary>The drive as messages and the monitor name it: ide0, floppy1, virtio0.</summary>
    public string Label => $"{Interface.ToString().ToLowerInvariant()}{Index}";
}

public enum DriveInterface { Ide, Floppy, Virtio }

/// <summary>A hard disk (or floppy) or an ATAPI CD-ROM drive (ide only).</summary>
public enum DriveMedia { Disk, Cdrom }

/// <summary>virtio-blk's PCI transport: legacy (1af4:1001, I/O BAR) or modern (1af4:1042, VIRTIO 1.0 capabilities).</summary>
public enum VirtioTransport { Modern, Legacy }
