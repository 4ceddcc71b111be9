using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// Copies the content a chain reads as into a fresh target the way `qemu-img convert` does: runs the source reports
/// as zero or unallocated are not written, and data is scanned in blocks of the sparse size (`-S`, default 4 KiB,
/// aligned to guest offsets) so that blocks holding only zeroes are not written either. Where the target has a
/// backing image that does not read as zeroes there, such runs are written with WriteZeroes instead of skipped.
/// </summary>
internal sealed class ImageCopy
{
    /// <summary>qemu-img convert's default `-S`: 4 KiB of zeroes make a hole.</summary>
    public const int DefaultSparseSize = 4096;

    /// <summary>Largest `-S` accepted: one block must fit the reused buffer.</summary>
    public const int MaxSparseSize = 16 << 20;

    private const int MinChunkSize = 1 << 20;

    private readonly ImageChain _source;
    private readonly int _sparseSize;
    private readonly bool _topLayerOnly;
    private readonly bool _targetReadsZero;
    private readonly int _chunkSize;
    private ImageChain? _targetBacking;
    private IBlockDriver? _target;

    /// <param name="sparseSize">
    /// Bytes of zeroes that make a hole (a multiple of 512); 0 writes every byte as data, so the target is fully
    /// allocated (qemu-img's `-S 0`).
    /// </param>
    /// <param name="topLayerOnly">
    /// qemu-img convert's `-B`: the target's backing holds what the source's backing holds, so only the source's top
    /// layer is copied and runs it leaves unallocated stay unallocated. Ignored for a source without a backing image.
    /// </param>
    /// <param name="targetReadsZero">
    /// The target is new and reads as zeroes where nothing is written; false for `convert -n` into an existing image,
    /// where every run the source reads as zeroes is zeroed explicitly.
    /// </param>
    public ImageCopy(ImageChain source, int sparseSize = DefaultSparseSize, bool topLayerOnly = false, bool targetReadsZero = true)
    {
        _targetReadsZero = targetReadsZero;
        if (sparseSize < 0 || sparseSize > MaxSparseSize || sparseSize % 512 != 0)
            throw new ArgumentOutOfRangeException(nameof(sparseSize), sparseSize, "a multiple of 512 up to 16 MiB");
        _source = source;
        _sparseSize = sparseSize;
        _topLayerOnly = topLayerOnly && source.LayerCount > 1;
        // Chunks start on multiples of the sparse size, so every block boundary is one in guest offsets too.
        _chunkSize = sparseSize == 0 ? MinChunkSize : Math.Max(1, MinChunkSize / sparseSize) * sparseSize;
    }

    /// <summary>Bytes of the target written with data (the rest was skipped as zero or left to the backing).</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Bytes made zero with WriteZeroes, where the target's backing holds data under source zeroes.</summary>
    public long BytesZeroed { get; private set; }

    /// <param name="progress">Called with the number of guest bytes done so far, after each step.</param>
    public void CopyTo(IBlockDriver target, Action<long>? progress)
    {
        _target = target;
        var backing = (target as IBackingImage)?.Backing;
        _targetBacking = backing is null ? null : new ImageChain(backing);
        long size = _source.Size;
        byte[] buffer = new byte[_chunkSize];
        long offset = 0;
        while (offset < size)
        {
            var (length, kind) = SourceStatus(offset, size - offset);
            long end = offset + length;
            if (kind == ExtentKind.Data) CopyData(offset, end, buffer, progress);
            else if (kind == ExtentKind.Zero) Zeroes(offset, end, buffer, progress);
            // Unallocated in -B mode: the target's backing supplies the run, as the source's did.
            offset = end;
            progress?.Invoke(offset);
        }
        target.Flush();
    }

    /// <summary>
    /// `convert -c`: every unit (cluster) of the target that does not read as zeroes is written compressed; units the
    /// source reports or reads as all zeroes are left as holes (or zeroed, see <see cref="ZeroRun"/>).
    /// </summary>
    public void CopyCompressedTo(IBlockDriver target, ICompressedWrites compressed, Action<long>? progress)
    {
        _target = target;
        var backing = (target as IBackingImage)?.Backing;
        _targetBacking = backing is null ? null : new ImageChain(backing);
        int unit = compressed.CompressionUnit;
        byte[] buffer = new byte[unit];
        long size = _source.Size;
        for (long offset = 0; offset < size; offset += unit)
        {
            int n = (int)Math.Min(unit, size - offset);
            var (length, kind) = SourceStatus(offset, n);
            if (length >= n && kind != ExtentKind.Data)
            {
                if (kind == ExtentKind.Zero) ZeroRun(offset, offset + n);
            }
            else
            {
                var span = buffer.AsSpan(0, n);
                _source.Top.Read(offset, span);
                if (!span.ContainsAnyExcept((byte)0)) ZeroRun(offset, offset + n);
                else
                {
                    compressed.WriteCompressed(offset, span);
                    BytesWritten += n;
                }
            }
            progress?.Invoke(offset + n);
        }
        target.Flush();
    }

    /// <summary>The run at <paramref name="offset"/>: Data, Zero (reads as zeroes), or Unallocated (left to the target's backing).</summary>
    private (long Length, ExtentKind Kind) SourceStatus(long offset, long maxLength)
    {
        if (_topLayerOnly)
        {
            var e = _source.Top.GetBlockStatus(offset, maxLength);
            if (e.Length <= 0)
                throw new ImageFormatException(_source.Top.FileName, $"block status at offset {offset} returned an empty run");
            return (Math.Min(e.Length, maxLength), e.Kind);
        }
        var c = _source.Status(offset, maxLength);
        return (c.Length, c.Kind == ExtentKind.Data ? ExtentKind.Data : ExtentKind.Zero);
    }

    private void CopyData(long start, long end, byte[] buffer, Action<long>? progress)
    {
        for (long pos = start; pos < end;)
        {
            long chunkEnd = Math.Min(end, (pos / _chunkSize + 1) * _chunkSize);
            var span = buffer.AsSpan(0, (int)(chunkEnd - pos));
            _source.Top.Read(pos, span);
            if (_sparseSize == 0) WriteData(pos, span);
            else CopyScanned(pos, span);
            pos = chunkEnd;
            progress?.Invoke(pos);
        }
    }

    /// <summary>
    /// Splits one chunk into runs of whole blocks: a block (the sparse size, aligned to guest offsets; partial at the
    /// chunk's edges) with any non-zero byte is written, runs of all-zero blocks become holes.
    /// </summary>
    private void CopyScanned(long pos, ReadOnlySpan<byte> chunk)
    {
        int s = _sparseSize;
        int p = 0;
        while (p < chunk.Length)
        {
            int nz = chunk[p..].IndexOfAnyExcept((byte)0);
            if (nz < 0)
            {
                ZeroRun(pos + p, pos + chunk.Length);
                return;
            }
            long firstNonZero = pos + p + nz;
            int dataStart = (int)Math.Max(p, firstNonZero / s * s - pos);
            if (dataStart > p) ZeroRun(pos + p, pos + dataStart);
            int q = (int)Math.Min(chunk.Length, (firstNonZero / s + 1) * s - pos);
            while (q < chunk.Length)
            {
                int blockEnd = Math.Min(chunk.Length, q + s);
                if (!chunk[q..blockEnd].ContainsAnyExcept((byte)0)) break;
                q = blockEnd;
            }
            WriteData(pos + dataStart, chunk[dataStart..q]);
            p = q;
        }
    }

    private void WriteData(long offset, ReadOnlySpan<byte> data)
    {
        _target!.Write(offset, data);
        BytesWritten += data.Length;
    }

    /// <summary>A run the source reads as zeroes: written as zero data with -S 0, else a hole (see <see cref="ZeroRun"/>).</summary>
    private void Zeroes(long start, long end, byte[] buffer, Action<long>? progress)
    {
        if (_sparseSize != 0)
        {
            ZeroRun(start, end);
            return;
        }
        Array.Clear(buffer);
        for (long pos = start; pos < end;)
        {
            long chunkEnd = Math.Min(end, (pos / _chunkSize + 1) * _chunkSize);
            WriteData(pos, buffer.AsSpan(0, (int)(chunkEnd - pos)));
            pos = chunkEnd;
            progress?.Invoke(pos);
        }
    }

    /// <summary>
    /// The target must read zeroes over [start, end). A new image without a backing does already; over a backing,
    /// only the runs where the backing chain holds data need WriteZeroes; an existing target (-n) is zeroed throughout.
    /// </summary>
    private void ZeroRun(long start, long end)
    {
        if (!_targetReadsZero)
        {
            _target!.WriteZeroes(start, end - start);
            BytesZeroed += end - start;
            return;
        }
        if (_targetBacking is null) return;
        for (long pos = start; pos < end;)
        {
            var run = _targetBacking.Status(pos, end - pos);
            long runEnd = pos + Math.Min(run.Length, end - pos);
            if (run.Kind == ExtentKind.Data)
            {
                _target!.WriteZeroes(pos, runEnd - pos);
                BytesZeroed += runEnd - pos;
            }
            pos = runEnd;
        }
    }
}
