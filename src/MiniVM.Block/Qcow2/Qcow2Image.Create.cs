namespace MiniVM.Block.Qcow2;

/// <summary>Creating an image with the layout qemu-img gives it (qcow3.md §2.11).</summary>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Creates an empty image: cluster 0 header, cluster 1 refcount table, cluster 2 refcount block, then the L1 table
    /// allocated through the normal path. A size of 0 with a backing file takes the backing image's size.
    /// </summary>
    public static Qcow2Image Create(string fileName, long size, int version, int clusterBits, int refcountOrder,
        string? backingFile, string? backingFormat, ImageOpenContext context)
    {
        if (size < 0) throw new ImageFormatException(fileName, $"size {size} is negative");
        if (backingFile is not null)
        {
            using var b = context.OpenBacking(fileName, backingFile, backingFormat);
            backingFormat ??= b.FormatName;
            if (size == 0) size = b.Size;
        }
        // QEMU keeps sizes in whole sectors.
        size = checked((size + 511) & ~511L);
        var h = new Qcow2Header
        {
            Version = version,
            ClusterBits = clusterBits,
            RefcountOrder = refcountOrder,
            RefcountTableOffset = 1L << clusterBits,
            RefcountTableClusters = 1,
            TailFields = version == 3 ? new byte[Qcow2Header.V3DefaultLength - Qcow2Header.V3MinLength] : [],
            BackingFileName = backingFile,
        };
        if (backingFile is not null) h.BackingFormat = backingFormat;
        if (h.L1EntriesFor(size) > Qcow2Header.MaxL1Entries)
            throw new ImageFormatException(fileName, $"size {size} needs an L1 table larger than 32 MiB at this cluster size");
        int cs = 1 << clusterBits;
        var image = new byte[3 * cs];
        h.ToBytes().CopyTo(image, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(image.AsSpan(cs), 2UL << clusterBits);
        // Clusters 0, 1 and 2 each have refcount 1, written at the block's width.
        var block = new byte[cs];
        for (int i = 0; i < 3; i++) SetEntry(refcountOrder, block, i, 1);
        block.CopyTo(image, 2 * cs);
        try
        {
            using var file = HostFile.OpenHandle(fileName, true, FileMode.Create); // locked before it is truncated
            RandomAccess.Write(file, image, 0);
            RandomAccess.FlushToDisk(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageFormatException(fileName, $"cannot create: {e.Message}");
        }
        var img = Open(fileName, context.AsReadWrite());
        try
        {
            long l1 = h.L1EntriesFor(size);
            if (l1 > 0) img.GrowL1(l1, exact: true);
            img._h.Size = size;
            img.WriteHeader();
            return img;
        }
        catch
        {
            img.Dispose();
            throw;
        }
    }
}
