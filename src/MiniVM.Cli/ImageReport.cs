using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>Everything `img info` shows about one layer, read once from the opened driver.</summary>
internal sealed record ImageReport(
    string FileName,
    string Format,
    long VirtualSize,
    long ActualSize,
    long ClusterSize,
    string? BackingFileName,
    string? BackingFormat,
    string? FullBackingFileName,
    IReadOnlyList<SnapshotInfo> Snapshots,
    IReadOnlyList<KeyValuePair<string, string>> FormatSpecific,
    IReadOnlyList<string> Files)
{
    public static ImageReport Of(IBlockDriver image, string displayName, bool allowUnsafePaths)
    {
        var info = image as IImageInfo;
        var backing = image as IBackingImage;
        string? backingName = backing?.BackingFileName;
        string? fullBacking = null;
        if (backingName is not null)
        {
            try { fullBacking = ImagePaths.ResolveStoredName(image.FileName, backingName, allowUnsafePaths, "backing file"); }
            catch (ImageFormatException) { fullBacking = null; } // shown as stored; opening it reports the error
        }
        return new ImageReport(
            displayName,
            image.FormatName,
            image.Size,
            info?.DiskUsage ?? FileUsage(image.FileName),
            info?.ClusterSize ?? 0,
            backingName,
            backing?.BackingFormat,
            fullBacking,
            (image as ISnapshotStore)?.ListSnapshots() ?? [],
            info?.FormatSpecific ?? [],
            info?.Files ?? [image.FileName]);
    }

    /// <summary>For formats without <see cref="IImageInfo"/>: the file's apparent length is the best portable answer.</summary>
    private static long FileUsage(string file)
    {
        try { return new FileInfo(file).Length; }
        catch (IOException) { return 0; }
    }
}
