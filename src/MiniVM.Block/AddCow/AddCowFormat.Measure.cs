namespace MiniVM.Block.AddCow;

/// <summary>
/// `img measure -O add-cow` (add-cow.md §2): the add-cow file (header and one bit per 64 KiB cluster) and the raw
/// image file, a sparse file as long as the disk into which each written cluster is copied at its own offset.
/// </summary>
public sealed partial class AddCowFormat : IMeasurableFormat
{
    public ImageMeasure Measure(long virtualSize, ImageCreateOptions options, Func<long, long>? dataBytes)
    {
        long size = (virtualSize + AddCowImage.SectorSize - 1) / AddCowImage.SectorSize * AddCowImage.SectorSize;
        if (size > AddCowImage.MaxVirtualSize)
            throw new ImageFormatException($"size {virtualSize} is larger than add-cow's {AddCowImage.MaxVirtualSize}");
        long metadata = AddCowHeader.Size + AddCowBitmap.BytesFor(AddCowImage.ClustersFor(size));
        long data = Math.Min(dataBytes?.Invoke(AddCowImage.ClusterSize) ?? 0, size);
        return new ImageMeasure(metadata + data, metadata + size);
    }
}
