namespace MiniVM.Devices.Storage;

/// <summary>
/// The layout of a floppy medium: cylinders × heads × sectors of 512 bytes, the data rate it is
/// recorded at (as the DSR/CCR rate code: 0 = 500 kb/s, 1 = 300, 2 = 250, 3 = 1 Mb/s) and the drive
/// type that reads it natively. Formats come from the image size, as QEMU's and SeaBIOS's tables do.
/// </summary>
public readonly record struct FloppyGeometry(int Cylinders, int Heads, int SectorsPerTrack, byte DataRate, FloppyDriveType DriveType)
{
    public const int SectorSize = 512;

    // 5.25" double density, read at 300 kb/s as in a 1.2M drive (QEMU's fd_formats): single- and double-sided, 8 or 9 sectors.
    public static readonly FloppyGeometry Floppy160K = new(40, 1, 8, 1, FloppyDriveType.Drive360K);
    public static readonly FloppyGeometry Floppy180K = new(40, 1, 9, 1, FloppyDriveType.Drive360K);
    public static readonly FloppyGeometry Floppy320K = new(40, 2, 8, 1, FloppyDriveType.Drive360K);
    public static readonly FloppyGeometry Floppy360K = new(40, 2, 9, 1, FloppyDriveType.Drive360K);
    /// <summary>3.5" double density with 8 sectors per track.</summary>
    public static readonly FloppyGeometry Floppy640K = new(80, 2, 8, 2, FloppyDriveType.Drive720K);
    public static readonly FloppyGeometry Floppy720K = new(80, 2, 9, 2, FloppyDriveType.Drive720K);
    public static readonly FloppyGeometry Floppy1200K = new(80, 2, 15, 0, FloppyDriveType.Drive1200K);
    public static readonly FloppyGeometry Floppy1440K = new(80, 2, 18, 0, FloppyDriveType.Drive1440K);
    public static readonly FloppyGeometry Floppy2880K = new(80, 2, 36, 3, FloppyDriveType.Drive2880K);

    public long SizeInBytes => (long)Cylinders * Heads * SectorsPerTrack * SectorSize;

    public int TotalSectors => Cylinders * Heads * SectorsPerTrack;

    /// <summary>The geometry of an image of <paramref name="sizeInBytes"/>, or a <see cref="StorageDeviceException"/> naming the size.</summary>
    public static FloppyGeometry FromImageSize(long sizeInBytes, string? imageName = null)
    {
        foreach (var g in (ReadOnlySpan<FloppyGeometry>)[Floppy1440K, Floppy720K, Floppy360K, Floppy1200K, Floppy2880K, Floppy160K, Floppy180K, Floppy320K, Floppy640K])
            if (g.SizeInBytes == sizeInBytes) return g;
        string who = imageName is null ? "floppy image" : $"floppy image {imageName}";
        throw new StorageDeviceException(
            $"{who}: size {sizeInBytes} bytes is not a floppy format (expected 163840, 184320, 327680, 368640, 655360, 737280, 1228800, 1474560 or 2949120)");
    }
}
