namespace MiniVM.Block.Qcow2;

/// <summary>
/// `img resize` for qcow2. Like QEMU, a version 2 image with snapshots keeps its size (its snapshots do not record
/// one). Everything the active tree maps past the old end (a shrunk tail, a reverted snapshot's VM state) is
/// unmapped first, so grown space reads as the backing image or zeroes.
/// </summary>
public sealed partial class Qcow2Image : IResizable
{
    public void Resize(long newSize)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        if (newSize < 0 || newSize % 512 != 0)
            throw new ImageFormatException(FileName, $"new size {newSize} must be a non-negative multiple of 512");
        if (_h.L1EntriesFor(newSize) > Qcow2Header.MaxL1Entries)
            throw new ImageFormatException(FileName, $"new size {newSize} needs an L1 table larger than 32 MiB");
        if (_h.Version == 2 && _snapshots.Count > 0 && newSize != _h.Size)
            throw new ImageFormatException(FileName, "a version 2 image with snapshots cannot be resized (its snapshots do not record their size)");
        long oldSize = _h.Size;
        if (newSize == oldSize) return;
        TrimCaches();
        long from = Math.Min(oldSize, newSize);
        // The cluster holding the old end keeps its bytes below it; past it, zeroes.
        int intra = (int)(from & (_cs - 1));
        if (intra != 0)
        {
            ulong e = LookupEntry(_l1, from);
            bool holdsData = (e & Qcow2Entry.Compressed) != 0 || ((e & Qcow2Entry.OffsetMask) != 0 && (e & Qcow2Entry.Zero) == 0);
            if (holdsData)
                WriteZeroBytes(from, _cs - intra);
            from += _cs - intra;
        }
        UnmapFrom(from);
        long need = _h.L1EntriesFor(newSize);
        if (need > _l1.LongLength) GrowL1(need, exact: true);
        FlushMetadata();
        _h.Size = newSize;
        WriteHeader();
    }

    /// <summary>Drops the active tree's references to every guest cluster at or past <paramref name="from"/> (cluster-aligned).</summary>
    private void UnmapFrom(long from)
    {
        long firstWholeTable = (from + _h.L2Coverage - 1) >> (_clusterBits + _l2Bits);
        // The table that straddles 'from': clear its entries one by one.
        for (long g = from; g < firstWholeTable << (_clusterBits + _l2Bits); g += _cs)
        {
            long l1i = g >> (_clusterBits + _l2Bits);
            if (l1i >= _l1.LongLength || (_l1[l1i] & Qcow2Entry.OffsetMask) == 0) break;
            if (LookupEntry(_l1, g) == 0) continue;
            var (t, idx) = GetL2ForWrite(g);
            ReleaseEntry(t.Entries[idx]);
            t.Entries[idx] = 0;
            t.Dirty = true;
        }
        // Whole tables: the tree's references to the table and to everything in it go.
        for (long i = firstWholeTable; i < _l1.LongLength; i++)
        {
            long off = (long)(_l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            foreach (ulong e in GetL2(off).Entries) ReleaseEntry(e);
            FreeLater(off >> _clusterBits);
            _l1[i] = 0;
            _l1Dirty = true;
        }
    }
}
