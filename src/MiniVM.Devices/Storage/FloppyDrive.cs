using MiniVM.Block;

namespace MiniVM.Devices.Storage;

/// <summary>
/// One floppy drive on the 82077: its type (what the CMOS reports and which data rates it can read), the
/// medium in it (any block-layer image of a floppy size, or none) and the head position the controller moves.
/// </summary>
public sealed class FloppyDrive
{
    /// <summary>A drive of <paramref name="type"/>, empty or holding <paramref name="media"/>.</summary>
    public FloppyDrive(FloppyDriveType type, IBlockDriver? media = null)
    {
        if (type == FloppyDriveType.None) throw new StorageDeviceException("a floppy drive needs a type (360K, 1.2M, 720K, 1.44M or 2.88M)");
        Type = type;
        if (media is not null) Insert(media);
        MediaChanged = true;
    }

    /// <summary>A drive whose type is the native one of <paramref name="media"/> (1.44M image → 1.44M drive).</summary>
    public static FloppyDrive ForImage(IBlockDriver media) =>
        new(FloppyGeometry.FromImageSize(media.Size, media.FileName).DriveType, media);

    public FloppyDriveType Type { get; }

    /// <summary>The CMOS nibble for this drive (4 = 1.44M, 3 = 720K, 1 = 360K, 2 = 1.2M, 5 = 2.88M).</summary>
    public byte CmosType => (byte)Type;

    public IBlockDriver? Media { get; private set; }

    /// <summary>Layout of the inserted medium (default 1.44M values when empty; never used without media).</summary>
    public FloppyGeometry Geometry { get; private set; } = FloppyGeometry.Floppy1440K;

    public bool IsReadOnly => Media?.IsReadOnly ?? false;

    /// <summary>The DIR bit 7 latch: set when media is inserted or removed, cleared by a step pulse with media present.</summary>
    public bool MediaChanged { get; internal set; }

    /// <summary>Present cylinder number: where the head is (the controller's PCN for this drive).</summary>
    public byte Track { get; internal set; }

    public byte Head { get; internal set; }

    /// <summary>Sector passing under the head, advanced by READ ID so that repeated calls see the disk spin.</summary>
    public byte Sector { get; internal set; } = 1;

    /// <summary>Puts a medium in the drive; its size must be a floppy format.</summary>
    public void Insert(IBlockDriver media)
    {
        Geometry = FloppyGeometry.FromImageSize(media.Size, media.FileName);
        Media = media;
        MediaChanged = true;
    }

    public void Eject()
    {
        Media = null;
        MediaChanged = true;
    }

    /// <summary>Moves the head; a step with media present clears the disk-change latch (82077 DIR, QEMU fd_seek).</summary>
    internal void StepTo(byte track)
    {
        if (track != Track && Media is not null) MediaChanged = false;
        Track = track;
    }
}
