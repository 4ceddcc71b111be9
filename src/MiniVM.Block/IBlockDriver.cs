namespace MiniVM.Block;

/// <summary>
/// One opened disk image (one layer of a backing chain), addressed in bytes.
/// Sector and cluster alignment are the driver's private business (design.md, "byte ranges").
/// Reads of ranges this layer does not hold fall through to its backing image, or read as zeroes.
/// </summary>
public interface IBlockDriver : IDisposable
{
    /// <summary>Registry name of the format ("raw", "irow", "qcow2", ...).</summary>
    string FormatName { get; }

    /// <summary>Path of the file the image was opened from (the meta file for multi-file formats).</summary>
    string FileName { get; }

    /// <summary>Virtual disk size in bytes.</summary>
    long Size { get; }

    bool IsReadOnly { get; }

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>; the range must lie inside Size.</summary>
    void Read(long offset, Span<byte> buffer);

    /// <summary>Writes the bytes at <paramref name="offset"/>; the range must lie inside Size.</summary>
    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Makes every completed write durable (data first, then the metadata that points at it).</summary>
    void Flush();

    /// <summary>
    /// Describes the run of bytes starting at <paramref name="offset"/> (at most <paramref name="maxLength"/> long)
    /// that has one state in this layer. Never returns a zero-length extent for an in-range offset.
    /// </summary>
    Extent GetBlockStatus(long offset, long maxLength);

    /// <summary>Makes the range read as zeroes (may deallocate when the format can represent zero without backing data).</summary>
    void WriteZeroes(long offset, long length);

    /// <summary>Hint that the range's content is no longer needed; afterwards it reads as zeroes or as the backing image.</summary>
    void Discard(long offset, long length);
}

/// <summary>What one layer says about a run of guest bytes.</summary>
public enum ExtentKind
{
    /// <summary>This layer holds data for the run.</summary>
    Data,
    /// <summary>This layer knows the run reads as zeroes.</summary>
    Zero,
    /// <summary>This layer holds nothing; the run comes from the backing image (or zeroes when there is none).</summary>
    Unallocated,
}

/// <param name="Offset">Guest offset of the run.</param>
/// <param name="Length">Length of the run in bytes.</param>
/// <param name="Kind">State of the run in this layer.</param>
/// <param name="File">For Data: the host file that holds the bytes (null when not meaningful).</param>
/// <param name="HostOffset">For Data: offset of the run inside <paramref name="File"/>, or -1.</param>
public readonly record struct Extent(long Offset, long Length, ExtentKind Kind, string? File = null, long HostOffset = -1);
