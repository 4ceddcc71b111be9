using System.Numerics;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// A state's allocation bitmap in memory (irow.md §2.5: bit c in byte c>>3, LSB first). Bits set since the last
/// persist are tracked per 4 KiB page, so a flush writes only those pages (§9 W19) and only after the data they
/// describe is durable (§9 W1, W2).
/// </summary>
public sealed class IrowBitmap
{
    public const int PageSize = 4096;

    private readonly byte[] _bits;
    private readonly bool[] _dirtyPages;
    private int _dirtyCount;

    public long ClusterCount { get; }

    public IrowBitmap(long clusterCount)
    {
        ClusterCount = clusterCount;
        _bits = new byte[(clusterCount + 7) >> 3];
        _dirtyPages = new bool[(_bits.Length + PageSize - 1) / PageSize];
    }

    public int ByteLength => _bits.Length;

    public bool HasDirtyPages => _dirtyCount > 0;

    public ReadOnlySpan<byte> Bytes => _bits;

    public bool IsSet(long cluster) => (_bits[cluster >> 3] & (1 << (int)(cluster & 7))) != 0;

    public void Set(long cluster)
    {
        long i = cluster >> 3;
        byte m = (byte)(1 << (int)(cluster & 7));
        if ((_bits[i] & m) != 0) return;
        _bits[i] |= m;
        MarkDirty(i);
    }

    private void MarkDirty(long byteIndex)
    {
        long p = byteIndex / PageSize;
        if (!_dirtyPages[p]) { _dirtyPages[p] = true; _dirtyCount++; }
    }

    public void SetRange(long first, long count)
    {
        for (long c = first; c < first + count; c++) Set(c);
    }

    /// <summary>Clears every bit and marks the whole bitmap dirty (goto, §6.3).</summary>
    public void ClearAll()
    {
        Array.Clear(_bits);
        for (int p = 0; p < _dirtyPages.Length; p++) _dirtyPages[p] = true;
        _dirtyCount = _dirtyPages.Length;
    }

    /// <summary>Sets every bit set in <paramref name="other"/> (same geometry), a byte at a time.</summary>
    public void UnionWith(IrowBitmap other)
    {
        var o = other._bits;
        for (int i = 0; i < _bits.Length; i++)
        {
            byte add = (byte)(o[i] & ~_bits[i]);
            if (add == 0) continue;
            _bits[i] |= add;
            MarkDirty(i);
        }
    }

    /// <summary>Set bits among clusters [first, first + count) where first and count are multiples of 8.</summary>
    public long CountSet(long first, long count)
    {
        long n = 0;
        foreach (byte b in _bits.AsSpan((int)(first >> 3), (int)((Math.Min(first + count, ClusterCount) - first + 7) >> 3)))
            n += BitOperations.PopCount(b);
        return n;
    }

    public long CountSet()
    {
        long n = 0;
        foreach (byte b in _bits) n += BitOperations.PopCount(b);
        return n;
    }

    /// <summary>Fills from a btmp file; padding bits past the last cluster are ignored (they are never meaningful).</summary>
    public void Load(SafeFileHandle btmp, string path)
    {
        long len = RandomAccess.GetLength(btmp);
        if (len < _bits.Length)
            throw new ImageFormatException(path, $"btmp file is {len} bytes, shorter than its {_bits.Length}-byte bitmap");
        ReadExactly(btmp, _bits, 0, path);
        MaskPadding(_bits, ClusterCount);
        Array.Clear(_dirtyPages);
        _dirtyCount = 0;
    }

    /// <summary>Writes the dirty pages at btmp offset 0 and forgets them. The caller syncs the file.</summary>
    public void WriteDirtyPages(SafeFileHandle btmp)
    {
        if (_dirtyCount == 0) return;
        for (int p = 0; p < _dirtyPages.Length; p++)
        {
            if (!_dirtyPages[p]) continue;
            int start = p * PageSize;
            int end = start + PageSize;
            // Coalesce neighbouring dirty pages into one write.
            while (end / PageSize < _dirtyPages.Length && _dirtyPages[end / PageSize]) { _dirtyPages[end / PageSize] = false; end += PageSize; }
            end = Math.Min(end, _bits.Length);
            RandomAccess.Write(btmp, _bits.AsSpan(start, end - start), start);
            _dirtyPages[p] = false;
        }
        _dirtyCount = 0;
    }

    internal static void MaskPadding(Span<byte> bits, long clusterCount)
    {
        int rem = (int)(clusterCount & 7);
        if (rem != 0 && bits.Length > 0) bits[^1] &= (byte)((1 << rem) - 1);
    }

    internal static void ReadExactly(SafeFileHandle h, Span<byte> buffer, long offset, string path)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(h, buffer[done..], offset + done);
            if (n <= 0) throw new ImageFormatException(path, $"file ends at {offset + done}, needed {buffer.Length} bytes from {offset}");
            done += n;
        }
    }
}
