namespace MiniVM.Block.Fvd;

/// <summary>Block status (fvd.md §3.9 is_allocated) and the consistency check.</summary>
public sealed partial class FvdImage
{
    protected override Extent BlockStatusCore(long offset, long length)
    {
        long limit = offset + length;
        if (BitmapActive && offset < _baseEnd)
        {
            long b = offset / _blockSize;
            bool inFvd = Bit(_fresh, b);
            long stop = Math.Min(limit, _baseEnd);
            long runEnd = Math.Min(RunEnd(_fresh, b, inFvd, (stop - 1) / _blockSize + 1) * _blockSize, stop);
            if (!inFvd) return new Extent(offset, runEnd - offset, ExtentKind.Unallocated);
            limit = runEnd;
        }
        return DataStatus(offset, limit);
    }

    /// <summary>
    /// The state of data-area bytes. Where a base exists these bytes hide it, so a hole or empty chunk is Zero;
    /// without a base it is Unallocated (it reads as zeroes either way).
    /// </summary>
    private Extent DataStatus(long offset, long limit)
    {
        var hole = _h.HasBitmap ? ExtentKind.Zero : ExtentKind.Unallocated;
        if (_h.CompactImage)
        {
            long c = offset / _chunkSize;
            uint id = _table[c];
            long end = Math.Min((c + 1) * _chunkSize, limit);
            while (end < limit && (id == Empty ? _table[c + 1] == Empty : _table[c + 1] == id + 1))
            {
                c++;
                if (id != Empty) id++;
                end = Math.Min((c + 1) * _chunkSize, limit);
            }
            if (_table[offset / _chunkSize] == Empty) return new Extent(offset, end - offset, hole);
            long host = _dataOffset + _table[offset / _chunkSize] * _chunkSize + offset % _chunkSize;
            return new Extent(offset, end - offset, ExtentKind.Data, _dataPath, host);
        }
        long h = _dataOffset + offset;
        if (h >= _dataLength) return new Extent(offset, limit - offset, hole);
        if (HostFile.TryGetAllocation(_data, h, _dataLength, out bool isData, out long runEnd) && runEnd > h)
        {
            long len = Math.Min(limit - offset, isData ? runEnd - h : (runEnd >= _dataLength ? limit - offset : runEnd - h));
            return isData ? new Extent(offset, len, ExtentKind.Data, _dataPath, h) : new Extent(offset, len, hole);
        }
        return new Extent(offset, limit - offset, ExtentKind.Data, _dataPath, h);
    }

    /// <summary>
    /// Checks the table (ids inside the storage, none used twice, no DIRTY bit on disk) and counts chunks below the
    /// highest id that nothing uses as leaks. Repair (All) writes DIRTY bits out and empties the later users of a
    /// doubly used chunk; leaked chunks cannot be reclaimed in place (ids are never moved), so they stay counted.
    /// </summary>
    public CheckResult Check(RepairMode repair = RepairMode.None)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        var r = new CheckResult();
        bool fix = repair == RepairMode.All && _writable;
        if (_openedUnclean && _journalSectors == 0 && (_h.HasBitmap || _h.CompactImage))
            r.Messages.Add("image was not shut down cleanly and has no journal: bitmap and table are as of the last flush");
        if (_h.HasBitmap)
        {
            long set = 0;
            foreach (byte v in _fresh) set += System.Numerics.BitOperations.PopCount(v);
            r.AllocatedClusters = set;
            r.TotalClusters = _h.BlockCount;
        }
        if (!_h.CompactImage) return r;
        if (_dirtyEntriesOnDisk > 0)
        {
            r.Corruptions++;
            r.Messages.Add($"{_dirtyEntriesOnDisk} table entries carry the in-memory DIRTY bit on disk");
            if (fix)
            {
                Array.Fill(_tablePageDirty, true);
                _metadataDirty = true;
                _dirtyEntriesOnDisk = 0;
                r.CorruptionsFixed++;
            }
        }
        // Duplicates by sorting the ids (4 bytes each, whatever the table holds), then naming their users in table order.
        int used = 0;
        foreach (uint e in _table) if (e != Empty) used++;
        var ids = new uint[used];
        used = 0;
        foreach (uint e in _table) if (e != Empty) ids[used++] = e;
        Array.Sort(ids);
        var duplicated = new HashSet<uint>();
        long distinct = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            if (i > 0 && ids[i] == ids[i - 1]) { duplicated.Add(ids[i]); continue; }
            distinct++;
        }
        if (duplicated.Count > 0)
        {
            var firstUser = new Dictionary<uint, int>();
            for (int c = 0; c < _table.Length; c++)
            {
                uint id = _table[c];
                if (id == Empty || !duplicated.Contains(id)) continue;
                if (!firstUser.TryGetValue(id, out int first)) { firstUser[id] = c; continue; }
                r.Corruptions++;
                if (r.Messages.Count < 100) r.Messages.Add($"chunk id {id} is used by virtual chunk {c} and by virtual chunk {first}");
                if (fix)
                {
                    _table[c] = Empty;
                    _tablePageDirty[c * 4 / FvdHeader.Page] = true;
                    _metadataDirty = true;
                    r.CorruptionsFixed++;
                }
            }
        }
        r.Leaks = (int)Math.Min(int.MaxValue, _nextChunk - distinct);
        if (r.Leaks > 0) r.Messages.Add($"{r.Leaks} chunks below id {_nextChunk} are used by no table entry (leaked; FVD cannot move chunks to reclaim them)");
        r.AllocatedClusters = distinct;
        r.TotalClusters = _table.Length;
        if (fix && _metadataDirty) FlushCoreCheckpoint();
        return r;
    }

    private void FlushCoreCheckpoint()
    {
        SyncData();
        WriteCheckpoint();
    }
}
