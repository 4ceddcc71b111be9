namespace MiniVM.Block;

/// <summary>
/// Capability: the format can store a guest cluster compressed (qcow2's deflate clusters; `img convert -c`).
/// A compressed cluster is read-only in place: a later write to it copies it out to a normal cluster.
/// </summary>
public interface ICompressedWrites
{
    /// <summary>Guest bytes one compressed write covers; offsets must be multiples of it.</summary>
    int CompressionUnit { get; }

    /// <summary>
    /// Stores <paramref name="data"/> (one unit, or the shorter rest at the disk's end) at <paramref name="offset"/>
    /// compressed; when compression saves nothing, it is written as a normal cluster instead (as qemu-img does).
    /// </summary>
    void WriteCompressed(long offset, ReadOnlySpan<byte> data);
}

/// <summary>
/// Capability of a format (not of one open image): the images it creates implement <see cref="ICompressedWrites"/>,
/// so `img convert -c` can refuse an output format before creating anything, as qemu-img does.
/// </summary>
public interface ICompressedWritesFormat : IImageFormat;
