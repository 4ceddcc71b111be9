using System.Buffers.Binary;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// Refcount table and blocks (qcow2.txt "Host cluster management"; qcow3.md §2.5): every used host cluster is
/// counted, new refcount blocks describe themselves, the table grows into new clusters, and decrements are deferred
/// to the end of the next flush so that no cluster is reused while an on-disk pointer may still reach it.
/// </summary>
public sealed partial class Qcow2Image
{
    private sealed class RefBlock(long offset, byte[] data)
    {
        public readonly long Offset = offset;
        public readonly byte[] Data = data;
        public bool Dirty;
    }

    private int _refBlockBits;
    private long _refBlockEntries;
    private ulong[] _rt;
    private bool _rtDirty;
    private readonly Dictionary<long, RefBlock> _refBlocks = new();
    private readonly Dictionary<long, int> _pendingFree = new();
    /// <summary>First host cluster that may be free.</summary>
    private long _freeHint = 1;
    /// <summary>One past the highest host cluster in use or in the file.</summary>
    private long _highWater;

    private ulong MaxRefcount => _h.RefcountOrder == 6 ? long.MaxValue : (1UL << (1 << _h.RefcountOrder)) - 1;

    private static ulong GetEntry(int order, byte[] block, long i)
    {
        switch (order)
        {
            case 4: return BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan((int)(i * 2)));
            case 3: return block[i];
            case 5: return BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan((int)(i * 4)));
            case 6: return BinaryPrimitives.ReadUInt64BigEndian(block.AsSpan((int)(i * 8)));
            default:
                // Sub-byte widths are packed from the least significant bit (QEMU get_refcount_ro0..2).
                int bits = 1 << order, per = 8 / bits;
                return (ulong)(block[i / per] >> (int)(i % per * bits)) & ((1UL << bits) - 1);
        }
    }

    internal static void SetEntry(int order, byte[] block, long i, ulong v)
    {
        switch (order)
        {
            case 4: BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan((int)(i * 2)), (ushort)v); break;
            case 3: block[i] = (byte)v; break;
            case 5: BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan((int)(i * 4)), (uint)v); break;
            case 6: BinaryPrimitives.WriteUInt64BigEndian(block.AsSpan((int)(i * 8)), v); break;
            default:
                int bits = 1 << order, per = 8 / bits, shift = (int)(i % per * bits);
                int mask = ((1 << bits) - 1) << shift;
                block[i / per] = (byte)((block[i / per] & ~mask) | ((int)v << shift & mask));
                break;
        }
    }

    /// <summary>The refcount block for table index <paramref name="t"/>, or null when the table has none there.</summary>
    private RefBlock? GetRefBlock(long t)
    {
        if (_refBlocks.TryGetValue(t, out var b)) return b;
        if (t < 0) throw new ImageFormatException(FileName, "host offset outside 0..2^56 (image is corrupt)");
        if (t >= _rt.LongLength) return null;
        ulong entry = _rt[t];
        if (entry == 0) return null;
        long off = (long)(entry & Qcow2Entry.RefTableOffsetMask);
        if ((entry & Qcow2Entry.RefTableReserved) != 0 || entry >= (ulong)Qcow2Header.MaxOffset || (off & (_cs - 1)) != 0 ||
            off == 0 || off + _cs > _file.Length)
            throw new ImageFormatException(FileName, $"refcount table entry {t} = 0x{entry:X} is not a cluster inside the file (image is corrupt)");
        b = new RefBlock(off, ReadBytes(off, _cs));
        _refBlocks[t] = b;
        return b;
    }

    /// <summary>Stored refcount of host cluster <paramref name="cluster"/> (0 where no block covers it).</summary>
    private ulong GetRefcount(long cluster)
    {
        var b = GetRefBlock(cluster >> _refBlockBits);
        return b is null ? 0 : GetEntry(_h.RefcountOrder, b.Data, cluster & (_refBlockEntries - 1));
    }

    private void SetRefcount(long cluster, ulong value)
    {
        long t = cluster >> _refBlockBits;
        var b = GetRefBlock(t) ?? CreateRefBlock(t);
        SetEntry(_h.RefcountOrder, b.Data, cluster & (_refBlockEntries - 1), value);
        b.Dirty = true;
    }

    private void AddRefcount(long cluster, int delta)
    {
        if (cluster <= 0 && delta < 0)
            throw new ImageFormatException(FileName, "attempt to free cluster 0 (the header): image is corrupt");
        ulong v = GetRefcount(cluster);
        if (delta > 0 && v > MaxRefcount - (ulong)delta)
            throw new ImageFormatException(FileName, $"refcount of host cluster {cluster} would exceed {MaxRefcount}");
        if (delta < 0 && v < (ulong)-delta)
            throw new ImageFormatException(FileName, $"refcount of host cluster {cluster} would drop below zero (image is corrupt)");
        SetRefcount(cluster, delta > 0 ? v + (ulong)delta : v - (ulong)-delta);
    }

    private void FreeLater(long cluster)
    {
        // Compressed clusters are never appended to a host cluster on its way to being freed.
        if (_compressedTail >= 0 && cluster == _compressedTail >> _clusterBits) _compressedTail = -1;
        _pendingFree.TryGetValue(cluster, out int n);
        _pendingFree[cluster] = n + 1;
    }

    private void ApplyPendingFrees()
    {
        // Taken out first: if the image turns out corrupt, a later flush (or Dispose) must not fail on them again.
        var frees = _pendingFree.ToArray();
        _pendingFree.Clear();
        _compressedKey = ulong.MaxValue; // a freed compressed cluster's bytes may be reused
        foreach (var (cluster, n) in frees)
        {
            AddRefcount(cluster, -n);
            if (GetRefcount(cluster) == 0 && cluster < _freeHint) _freeHint = cluster;
        }
    }

    /// <summary>The refcount once the deferred decrements are applied.</summary>
    private ulong EffectiveRefcount(long cluster)
    {
        ulong v = GetRefcount(cluster);
        return _pendingFree.TryGetValue(cluster, out int n) ? v - Math.Min(v, (ulong)n) : v;
    }

    private bool IsFree(long cluster) => cluster > 0 && GetRefcount(cluster) == 0 && !_pendingFree.ContainsKey(cluster);

    /// <summary>First-fit allocation of <paramref name="count"/> contiguous host clusters, counted at once.</summary>
    private long AllocateClusters(long count)
    {
        long c = Math.Max(_freeHint, 1);
        while (true)
        {
            long start = c, got = 0, firstFree = -1;
            while (got < count)
            {
                long i = start + got;
                if (i >= Qcow2Header.MaxOffset >> _clusterBits)
                    throw new ImageFormatException(FileName, "image file would grow past 2^56 bytes");
                if (IsFree(i)) { if (firstFree < 0) firstFree = i; got++; }
                else { start = i + 1; got = 0; }
            }
            // Refcount blocks for the run may have to be created, and may land inside it.
            for (long i = start; i < start + count; i++)
                if (GetRefBlock(i >> _refBlockBits) is null) CreateRefBlock(i >> _refBlockBits);
            bool ok = true;
            for (long i = start; i < start + count && ok; i++) ok = IsFree(i);
            if (!ok) { c = start; continue; }
            for (long i = start; i < start + count; i++) SetRefcount(i, 1);
            if (firstFree == start) _freeHint = start + count;
            _highWater = Math.Max(_highWater, start + count);
            return start;
        }
    }

    /// <summary>
    /// A new refcount block for table index <paramref name="t"/>: none of the clusters it covers is counted yet, so
    /// it takes the first of them and counts itself (self-describing).
    /// </summary>
    private RefBlock CreateRefBlock(long t)
    {
        if (t >= _rt.LongLength) GrowRefcountTable(t + 1);
        if (GetRefBlock(t) is { } existing) return existing;
        long cluster = t << _refBlockBits;
        if (cluster == 0)
            throw new ImageFormatException(FileName, "refcount table has no block for cluster 0 (image is corrupt)");
        var b = new RefBlock(cluster << _clusterBits, new byte[_cs]) { Dirty = true };
        SetEntry(_h.RefcountOrder, b.Data, 0, 1);
        _refBlocks[t] = b;
        _rt[t] = (ulong)b.Offset;
        _rtDirty = true;
        _highWater = Math.Max(_highWater, cluster + 1);
        return b;
    }

    /// <summary>
    /// Moves the refcount table to new clusters at the end of the image, large enough for <paramref name="minEntries"/>
    /// and for itself; blocks it needs for its own clusters follow it. The header is switched once both are durable.
    /// </summary>
    private void GrowRefcountTable(long minEntries)
    {
        FlushMetadata();
        long oldEntries = _rt.LongLength;
        long start = Math.Max(_highWater, (_file.Length + _cs - 1) >> _clusterBits);
        long entries = Math.Max(minEntries, oldEntries + oldEntries / 2 + 1);
        long k, b;
        var newRanges = new List<long>();
        while (true)
        {
            k = (entries * 8 + _cs - 1) >> _clusterBits;
            b = 0;
            while (true)
            {
                newRanges.Clear();
                long end = start + k + b;
                for (long r = start >> _refBlockBits; r <= (end - 1) >> _refBlockBits; r++)
                    if (r >= oldEntries || _rt[r] == 0) newRanges.Add(r);
                if (newRanges.Count == b) break;
                b = newRanges.Count;
            }
            long last = (start + k + b - 1) >> _refBlockBits;
            if (last < entries) break;
            entries = last + 1;
        }
        entries = (k << _clusterBits) / 8;
        if (k << _clusterBits > Qcow2Header.MaxRefcountTableBytes)
            throw new ImageFormatException(FileName, "refcount table would exceed 8 MiB");
        var nrt = new ulong[entries];
        Array.Copy(_rt, nrt, oldEntries);
        for (int j = 0; j < newRanges.Count; j++)
        {
            long at = (start + k + j) << _clusterBits;
            nrt[newRanges[j]] = (ulong)at;
            _refBlocks[newRanges[j]] = new RefBlock(at, new byte[_cs]) { Dirty = true };
        }
        long oldOffset = _h.RefcountTableOffset, oldClusters = _h.RefcountTableClusters;
        _rt = nrt;
        for (long c = start; c < start + k + b; c++) SetRefcount(c, 1);
        _highWater = Math.Max(_highWater, start + k + b);
        foreach (var blk in _refBlocks.Values)
            if (blk.Dirty) { WriteAt(blk.Offset, blk.Data); blk.Dirty = false; }
        WriteTable(start << _clusterBits, _rt);
        _rtDirty = false;
        _h.RefcountTableOffset = start << _clusterBits;
        _h.RefcountTableClusters = (uint)k;
        WriteHeader();
        for (long c = 0; c < oldClusters; c++) FreeLater((oldOffset >> _clusterBits) + c);
    }

    /// <summary>Dirty refcount blocks, then the table entries that point at new blocks.</summary>
    private void WriteRefcountStructures()
    {
        foreach (var blk in _refBlocks.Values)
            if (blk.Dirty) { WriteAt(blk.Offset, blk.Data); blk.Dirty = false; }
        if (_rtDirty)
        {
            Sync();
            WriteTable(_h.RefcountTableOffset, _rt);
            _rtDirty = false;
        }
    }
}
