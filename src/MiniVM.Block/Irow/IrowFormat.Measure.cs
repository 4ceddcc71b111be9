namespace MiniVM.Block.Irow;

/// <summary>
/// `img measure -O irow` (irow.md §3, §5.1): a new image is its meta file (header and the current state's record),
/// the current state's btmp (one bit per cluster) and its irvd, a sparse file as long as the disk that holds each
/// written cluster at the cluster's own offset.
/// </summary>
public sealed partial class IrowFormat : IMeasurableFormat
{
    public ImageMeasure Measure(long virtualSize, ImageCreateOptions options, Func<long, long>? dataBytes)
    {
        int bits = ClusterBits(options, null);
        long size = (virtualSize + 511) / 512 * 512; // iROW disks are whole sectors; qemu-img rounds the same way
        IrowMetaHeader.CheckGeometry(null, size, bits);
        long metadata = IrowMetaHeader.Size + IrowSnapshotRecord.Size
            + (IrowMetaHeader.ClustersFor(size, bits) + 7) / 8;
        // A cluster's data never reaches past the irvd's end: the last cluster may be cut by the disk's end.
        long data = Math.Min(dataBytes?.Invoke(1L << bits) ?? 0, size);
        return new ImageMeasure(metadata + data, metadata + size);
    }
}
