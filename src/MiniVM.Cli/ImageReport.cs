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
    IReadOnlyList<string> Files,
    SnapshotTree? Tree,
    bool IsDirty)
{
    public static ImageReport Of(IBlockDriver image, string displayName)
    {
        var info = image as IImageInfo;
        var backing = image as IBackingImage;
        string? backingName = backing?.BackingFileName;
        string? fullBacking = backingName is null ? null : BackingPath(displayName, backingName);
        var snapshots = (image as ISnapshotStore)?.ListSnapshots() ?? [];
        return new ImageReport(
            displayName,
            image.FormatName,
            image.Size,
            info?.DiskUsage ?? FileUsage(image.FileName),
            info?.ClusterSize ?? 0,
            backingName,
            backing?.BackingFormat,
            fullBacking,
            snapshots,
            info?.FormatSpecific ?? [],
            info?.Files ?? [image.FileName],
            TreeOf(image, snapshots),
            (image as IDirtyFlag)?.IsDirty ?? false);
    }

    /// <summary>
    /// Formats whose snapshots form a tree (<see cref="ISnapshotTree"/>: the current state hangs below the snapshot it
    /// was taken from or reverted to), or any format that fills <see cref="SnapshotInfo.ParentId"/>.
    /// </summary>
    private static SnapshotTree? TreeOf(IBlockDriver image, IReadOnlyList<SnapshotInfo> snapshots)
    {
        if (image is ISnapshotTree tree) return SnapshotTree.Build(snapshots, tree.CurrentParentId);
        foreach (var s in snapshots)
            if (s.ParentId is not null) return SnapshotTree.Build(snapshots, null);
        return null;
    }

    /// <summary>
    /// The backing file's name as qemu-img shows it: a relative stored name joined to the directory of the image
    /// as it was named on the command line (no normalisation), an absolute one as is.
    /// </summary>
    public static string BackingPath(string imageName, string storedName) =>
        Path.IsPathRooted(storedName) ? storedName : Path.Combine(Path.GetDirectoryName(imageName) ?? "", storedName);

    /// <summary>For formats without <see cref="IImageInfo"/>: the file's apparent length is the best portable answer.</summary>
    private static long FileUsage(string file)
    {
        try { return new FileInfo(file).Length; }
        catch (IOException) { return 0; }
    }
}
