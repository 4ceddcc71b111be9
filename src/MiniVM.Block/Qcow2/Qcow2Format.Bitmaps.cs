namespace MiniVM.Block.Qcow2;

/// <summary>`bitmaps size` of qemu-img measure (qcow2_get_persistent_dirty_bitmap_size in qemu 7.2).</summary>
public sealed partial class Qcow2Format : IPersistentBitmapsFormat
{
    /// <summary>
    /// Each bitmap as if fully allocated: its data clusters and the clusters of its bitmap table (8 bytes an entry),
    /// then the bitmap directory (a 24-byte entry plus the name, each padded to 8) rounded up to a cluster.
    /// Only compat=1.1 images store bitmaps.
    /// </summary>
    public long? BitmapsSize(long diskSize, ImageCreateOptions options, IReadOnlyList<PersistentBitmap> bitmaps)
    {
        if (options.Get("compat") is "0.10" or "v2") return null;
        var (cs, _) = ClusterAndRefcountSizes(options);
        long size = 0, directory = 0;
        foreach (var b in bitmaps)
        {
            long bits = (diskSize + b.Granularity - 1) / b.Granularity;
            long clusters = ((bits + 7) / 8 + cs - 1) / cs;
            size += clusters * cs + RoundUp(clusters * 8, cs);
            directory += RoundUp(24 + System.Text.Encoding.UTF8.GetByteCount(b.Name), 8);
        }
        return size + RoundUp(directory, cs);
    }
}
