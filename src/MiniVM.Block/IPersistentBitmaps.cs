namespace MiniVM.Block;

/// <summary>One persistent dirty bitmap stored in an image: its name and the bytes of disk one bit stands for.</summary>
public readonly record struct PersistentBitmap(string Name, long Granularity);

/// <summary>
/// Capability of an open image whose format can store persistent dirty bitmaps (qcow2 version 3): the bitmaps it
/// holds, possibly none. qemu-img measure reports their size only for such a source.
/// </summary>
public interface IPersistentBitmaps
{
    /// <summary>The stored bitmaps; null when this image cannot hold any (a qcow2 version 2 image).</summary>
    IReadOnlyList<PersistentBitmap>? PersistentBitmaps { get; }
}

/// <summary>Capability of a format whose new images can hold persistent dirty bitmaps (qemu-img measure's `bitmaps size`).</summary>
public interface IPersistentBitmapsFormat : IMeasurableFormat
{
    /// <summary>
    /// Host bytes the bitmaps of a <paramref name="diskSize"/>-byte source take in a new image made with
    /// <paramref name="options"/>, or null when such an image cannot store bitmaps.
    /// </summary>
    long? BitmapsSize(long diskSize, ImageCreateOptions options, IReadOnlyList<PersistentBitmap> bitmaps);
}
