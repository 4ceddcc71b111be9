using System.Numerics;

namespace MiniVM.Block.AddCow;

/// <summary>
/// The whole COW bitmap held in memory (add-cow.md §3.6: 4 MiB per 2 TiB), one bit per 64 KiB cluster, LSB-first
/// (§2.3: cluster k is byte k/8, mask 1 &lt;&lt; (k % 8)). Dirtiness is tracked per 512-byte sector of the file so a
/// flush rewrites whole aligned sectors (§3.5), and only when a bit went 0→1 (§4.1 item 6).
/// </summary>
internal sealed class AddCowBitmap
{
    public const int SectorSize = 512;

    private byte[] _bytes;
    private bool[] _dirty;
    private int _dirtyCount;

    public AddCowBitmap(byte[] bytes, long clusters)
    {
        if (bytes.Length != BytesFor(clusters)) throw new ArgumentException("bitmap length does not match the cluster count", nameof(bytes));
        _bytes = bytes;
        Clusters = clusters;
        _dirty = new bool[(bytes.Length + SectorSize - 1) / SectorSize];
    }

    public long Clusters { get; private set; }

    /// <summary>Bitmap length in bytes: ceil(C / 8).</summary>
    public int Length => _bytes.Length;

    public ReadOnlySpan<byte> Bytes => _bytes;

    public bool IsDirty => _dirtyCount > 0;

    public static long BytesFor(long clusters) => (clusters + 7) >> 3;

    public bool IsSet(long cluster) => (_bytes[cluster >> 3] & (1 << (int)(cluster & 7))) != 0;

    /// <summary>Sets the bit; returns true (and marks its sector dirty) only on a 0→1 change.</summary>
    public bool Set(long cluster)
    {
        int i = (int)(cluster >> 3);
        byte mask = (byte)(1 << (int)(cluster & 7));
        if ((_bytes[i] & mask) != 0) return false;
        _bytes[i] |= mask;
        MarkDirty(i);
        return true;
    }

    private void MarkDirty(int byteIndex)
    {
        int s = byteIndex / SectorSize;
        if (!_dirty[s]) { _dirty[s] = true; _dirtyCount++; }
    }

    /// <summary>
    /// Number of consecutive clusters from <paramref name="cluster"/> (at most <paramref name="max"/>) that share its
    /// state, which is returned in <paramref name="set"/>. Whole 0x00/0xFF bytes are skipped at once.
    /// </summary>
    public long Run(long cluster, long max, out bool set)
    {
        set = IsSet(cluster);
        long end = Math.Min(Clusters, cluster + max);
        byte whole = set ? (byte)0xFF : (byte)0;
        long k = cluster + 1;
        while (k < end)
        {
            if ((k & 7) == 0 && k + 8 <= end && _bytes[k >> 3] == whole) { k += 8; continue; }
            if (IsSet(k) != set) break;
            k++;
        }
        return k - cluster;
    }

    /// <summary>Clears bits at or beyond <see cref="Clusters"/> in the last byte (§5.2 item 6); returns how many were set.</summary>
    public int MaskBeyondEnd()
    {
        int used = (int)(Clusters & 7);
        if (used == 0 || _bytes.Length == 0) return 0;
        int last = _bytes.Length - 1;
        byte stray = (byte)(_bytes[last] & ~((1 << used) - 1));
        if (stray == 0) return 0;
        _bytes[last] &= (byte)((1 << used) - 1);
        MarkDirty(last);
        return BitOperations.PopCount(stray);
    }

    public long CountSet()
    {
        long n = 0;
        var span = _bytes.AsSpan();
        int i = 0;
        for (; i + 8 <= span.Length; i += 8)
            n += BitOperations.PopCount(BitConverter.ToUInt64(span.Slice(i, 8)));
        for (; i < span.Length; i++) n += BitOperations.PopCount(span[i]);
        return n;
    }

    /// <summary>Calls <paramref name="write"/>(byte offset in the bitmap, bytes) for each run of dirty sectors, then marks them clean.</summary>
    public void WriteDirty(Action<int, ReadOnlyMemory<byte>> write)
    {
        int s = 0;
        while (s < _dirty.Length)
        {
            if (!_dirty[s]) { s++; continue; }
            int e = s;
            while (e < _dirty.Length && _dirty[e]) e++;
            int start = s * SectorSize;
            int end = Math.Min(e * SectorSize, _bytes.Length);
            write(start, _bytes.AsMemory(start, end - start));
            s = e;
        }
        Array.Clear(_dirty);
        _dirtyCount = 0;
    }

    /// <summary>Changes the cluster count (resize); bits for clusters beyond the new end are cleared, new ones are 0.</summary>
    public void Resize(long clusters)
    {
        var bytes = new byte[BytesFor(clusters)];
        _bytes.AsSpan(0, Math.Min(_bytes.Length, bytes.Length)).CopyTo(bytes);
        _bytes = bytes;
        Clusters = clusters;
        _dirty = new bool[(bytes.Length + SectorSize - 1) / SectorSize];
        _dirtyCount = 0;
        int used = (int)(clusters & 7);
        if (used != 0 && bytes.Length > 0) bytes[^1] &= (byte)((1 << used) - 1);
    }
}
