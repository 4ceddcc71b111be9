namespace MiniVM.Block.Irow;

/// <summary>Image creation (irow.md §5.1), with the state files made before the meta file that names them.</summary>
public sealed partial class IrowImage
{
    /// <summary>
    /// Creates a new image: a btmp of zero bits and a sparse irvd for the root current state, then the meta file
    /// (atomically). <paramref name="size"/> 0 with a backing file takes the backing image's size.
    /// </summary>
    public static IrowImage Create(string metaPath, long size, IrowCreateParameters p, ImageOpenContext context)
    {
        string? stored = null;
        if (p.BackingFile is { } backing)
        {
            stored = StoredBackingName(metaPath, backing);
            IrowText.CheckFits(stored, IrowMetaHeader.NameFieldLength, "backing file name");
            string resolved = ImagePaths.ResolveBackingName(metaPath, stored, context.AllowUnsafePaths);
            if (!File.Exists(resolved)) throw new ImageFormatException(metaPath, $"backing file {backing} does not exist");
            string probed = context.Registry.Probe(resolved).Name;
            if (p.BackingFormat is { } fmt && !string.Equals(fmt, probed, StringComparison.OrdinalIgnoreCase))
                throw new ImageFormatException(metaPath,
                    $"backing file {backing} probes as {probed}, not {fmt}; iROW stores no backing format (irow.md §9 W29), so it would be opened as {probed}");
            using var b = context.OpenBacking(metaPath, stored, null);
            if (size == 0) size = (b.Size + 511) / 512 * 512;
        }
        else if (p.BackingFormat is not null)
        {
            throw new ImageFormatException(metaPath, "backing_fmt is given without a backing file");
        }
        IrowMetaHeader.CheckGeometry(metaPath, size, p.ClusterBits);
        var now = p.Now ?? DateTimeOffset.UtcNow;
        long total = IrowMetaHeader.ClustersFor(size, p.ClusterBits);
        var (btmp, irvd) = CreateStateFiles(metaPath, (int)((total + 7) >> 3), size, now);
        var (sec, nsec) = IrowSnapshotRecord.DateFields(now);
        var header = new IrowMetaHeader(p.CopyOnDemand, 1, p.ClusterBits, total, size, btmp, stored ?? "");
        var root = new IrowSnapshotRecord(IrowSnapshotRecord.CurrentId, IrowSnapshotRecord.CurrentName, btmp, irvd, "", 0, sec, nsec, 0, 0, false);
        IrowMetaFile.Replace(metaPath, new IrowTree(header, [root])); // Open below takes the meta file's lock
        return Open(metaPath, context.AsReadWrite());
    }

    /// <summary>
    /// The name iROW stores for a backing file. Like qemu-img, a relative name is relative to the new image and an
    /// absolute one stands; one in the image's own directory is stored as a plain name (irow.md §3).
    /// </summary>
    private static string StoredBackingName(string metaPath, string backing)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(metaPath)) ?? ".";
        if (Path.IsPathRooted(backing)) return backing;
        string full = Path.GetFullPath(Path.Combine(dir, backing));
        return string.Equals(Path.GetDirectoryName(full), dir, StringComparison.Ordinal) ? Path.GetFileName(full) : backing;
    }
}
