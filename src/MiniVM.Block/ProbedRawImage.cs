namespace MiniVM.Block;

/// <summary>
/// A raw image whose format was probed, not given: every change to the bytes the probe reads (the first
/// <see cref="ImageFormats.ProbeWindow"/>) is checked first, and refused when the file would then probe as another
/// format (QEMU's raw_co_pwritev restriction for probed raw images, which answers EPERM). Otherwise a guest could
/// write a qcow2 header naming a backing file into its sector 0, and the next open would read that host file.
/// Devices turn the refusal into a guest I/O error.
/// </summary>
public sealed class ProbedRawImage : IBlockDriver, IImageInfo, IExtentOwners, IResizable
{
    private readonly IBlockDriver _raw;
    private readonly ImageFormats _registry;
    private byte[]? _head; // reused: a write loop over the disk start allocates nothing per request

    public ProbedRawImage(IBlockDriver raw, ImageFormats registry)
    {
        _raw = raw;
        _registry = registry;
    }

    public string FormatName => _raw.FormatName;
    public string FileName => _raw.FileName;
    public long Size => _raw.Size;
    public bool IsReadOnly => _raw.IsReadOnly;

    public void Read(long offset, Span<byte> buffer) => _raw.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckProbeWindow(offset, data.Length, data);
        _raw.Write(offset, data);
    }

    public void WriteZeroes(long offset, long length)
    {
        CheckProbeWindow(offset, length, default);
        _raw.WriteZeroes(offset, length);
    }

    public void Discard(long offset, long length)
    {
        CheckProbeWindow(offset, length, default); // raw reads a discarded range as zeroes
        _raw.Discard(offset, length);
    }

    public void Flush() => _raw.Flush();

    public Extent GetBlockStatus(long offset, long maxLength) => _raw.GetBlockStatus(offset, maxLength);

    /// <summary>
    /// When [offset, offset+length) overlaps the probe window: the window as it would read after the change
    /// (<paramref name="data"/>, or zeroes when it is empty) must still probe as raw.
    /// </summary>
    private void CheckProbeWindow(long offset, long length, ReadOnlySpan<byte> data)
    {
        int window = (int)Math.Min(ImageFormats.ProbeWindow, Size);
        if (length <= 0 || offset >= window || offset < 0) return;
        var head = (_head ??= new byte[window]).AsSpan();
        _raw.Read(0, head);
        int start = (int)offset, end = (int)Math.Min(window, offset + length);
        if (data.IsEmpty) head[start..end].Clear();
        else data[..(end - start)].CopyTo(head[start..]);
        var probed = _registry.Probe(head, FileName);
        if (probed is not Raw.RawFormat)
            throw new ImageFormatException(FileName,
                $"write at offset {offset} refused: the image would then probe as {probed?.Name ?? "no format"}, not raw " +
                "(its format was probed; give format=raw to allow such writes)");
    }

    public long ClusterSize => (_raw as IImageInfo)?.ClusterSize ?? 0;
    public long DiskUsage => (_raw as IImageInfo)?.DiskUsage ?? 0;
    public IReadOnlyList<string> Files => (_raw as IImageInfo)?.Files ?? [FileName];
    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific => (_raw as IImageInfo)?.FormatSpecific ?? [];
    public IReadOnlyList<ExtentOwner> ExtentOwners => (_raw as IExtentOwners)?.ExtentOwners ?? [new(FileName, Path.GetFileName(FileName))];

    /// <summary>A resize changes no byte of block 0, so the probe stays raw.</summary>
    public void Resize(long newSize)
    {
        if (_raw is not IResizable r) throw new ImageFormatException(FileName, "image cannot be resized");
        r.Resize(newSize);
    }

    public void Dispose() => _raw.Dispose();
}
