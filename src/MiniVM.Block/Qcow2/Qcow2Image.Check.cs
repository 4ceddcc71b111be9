namespace MiniVM.Block.Qcow2;

/// <summary>
/// Consistency check as qemu-img check does it (qcow2-refcount.c): recount every reference from the header, the
/// refcount structures, the active and snapshot trees and the snapshot table, compare with the stored refcounts
/// (stored higher = leak, lower = corruption), and verify the copied flags of the active tree. Repair: leaks are
/// lowered in place; anything worse rebuilds the refcount structures at the end of the file.
/// </summary>
public sealed partial class Qcow2Image : IImageCheck
{
    /// <summary>Bound on the clusters a check tracks (512 MiB of counters: 64 GiB at 512-byte clusters, 8 TiB at 64 KiB).</summary>
    private const long MaxCheckClusters = 1L << 27;

    private long _activeDataClusters, _activeCompressedClusters, _activeFragmentedClusters, _nextContiguousHost;

    public CheckResult Check(RepairMode repair = RepairMode.None)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        if (repair != RepairMode.None && !_writable)
            throw new ImageFormatException(FileName, "repair needs the image open read-write");
        if (_writable) FlushMetadata();
        var result = new CheckResult();
        var counts = Recount(result, includeRefcountStructures: true);
        var mismatches = Compare(counts, result);
        result.ImageEndOffset = ImageEnd(counts, mismatches);
        CheckCopiedFlags(result, counts);
        int incompleteEntries = CheckSnapshotEntriesComplete(result, repair == RepairMode.All);
        if (repair == RepairMode.None) return result;

        if (repair == RepairMode.All && incompleteEntries > 0)
        {
            foreach (var sn in _snapshots)
            {
                if (sn.ExtraData.Length >= 16) continue;
                var extra = new byte[16];
                sn.ExtraData.CopyTo(extra, 0);
                sn.ExtraData = extra;
                sn.DiskSize ??= Size; // qemu-img's fix: a missing disk size is the image's
            }
            WriteSnapshotTable([.. _snapshots]); // the writer fills vm_state_size_large and disk_size in
            result.Corruptions -= incompleteEntries;
            result.CorruptionsFixed += incompleteEntries;
        }
        int corruptions = result.Corruptions, leaks = result.Leaks;
        int refcountErrors = corruptions - result.Messages.Count(m => m.StartsWith("ERROR OFLAG_COPIED", StringComparison.Ordinal));
        if (repair == RepairMode.All && refcountErrors > 0)
            RebuildRefcounts(); // counts too low or structures unreadable: start the refcounts afresh
        else
        {
            // Counts that are only too high are lowered in place.
            foreach (var (cluster, stored, computed) in mismatches)
                if (computed < stored) SetRefcount(cluster, computed);
            if (repair == RepairMode.Leaks)
            {
                FlushMetadata();
                result.LeaksFixed = leaks - CountAgain().Leaks;
                result.Leaks -= result.LeaksFixed;
                return result;
            }
        }
        RefreshCopiedFlags();
        FlushMetadata();
        var after = CountAgain();
        after.CorruptionsFixed = Math.Max(0, corruptions - after.Corruptions);
        after.LeaksFixed = Math.Max(0, leaks - after.Leaks);
        after.Messages.InsertRange(0, result.Messages);
        ClearCorruptBitIfRepaired(repair, after);
        return after;
    }

    /// <summary>
    /// As qemu-img (qcow2_check_read_snapshot_table): every v3 snapshot entry needs at least the 16 bytes of extra data
    /// that hold vm_state_size_large and disk_size; a shorter one is a corruption that `-r all` fixes by rewriting the table.
    /// </summary>
    private int CheckSnapshotEntriesComplete(CheckResult result, bool repairing)
    {
        if (_h.Version < 3) return 0;
        int n = 0;
        for (int i = 0; i < _snapshots.Count; i++)
        {
            if (_snapshots[i].ExtraData.Length >= 16) continue;
            result.Corruptions++;
            result.Messages.Add($"{(repairing ? "Repairing" : "ERROR")} snapshot table entry {i} is incomplete");
            n++;
        }
        return n;
    }

    private CheckResult CountAgain()
    {
        var r = new CheckResult();
        var counts = Recount(r, includeRefcountStructures: true);
        Compare(counts, r);
        CheckCopiedFlags(r, counts);
        return r;
    }

    /// <summary>After -r all leaves no corruption, the corrupt and dirty bits have served their purpose (as in QEMU).</summary>
    private void ClearCorruptBitIfRepaired(RepairMode repair, CheckResult result)
    {
        const ulong bits = Qcow2Header.IncompatCorrupt | Qcow2Header.IncompatDirty;
        if (repair != RepairMode.All || result.Corruptions != 0 || (_h.IncompatibleFeatures & bits) == 0) return;
        _h.IncompatibleFeatures &= ~bits;
        WriteHeader();
    }

    /// <summary>Recomputes every cluster's refcount from the metadata that references it.</summary>
    private uint[] Recount(CheckResult result, bool includeRefcountStructures)
    {
        long fileClusters = (_file.Length + _cs - 1) >> _clusterBits;
        long n = Math.Max(fileClusters, _highWater);
        if (n > MaxCheckClusters)
            throw new ImageFormatException(FileName, $"image has {n} clusters, more than a check can track");
        var counts = new uint[n];
        void Inc(long offset, long length, string what)
        {
            if (length <= 0) return;
            long first = offset >> _clusterBits, last = (offset + length - 1) >> _clusterBits;
            if (offset < 0 || last >= n)
            {
                result.Corruptions++;
                result.Messages.Add($"ERROR {what} at offset 0x{offset:X} lies past the end of the image");
                return;
            }
            for (long c = first; c <= last; c++) if (counts[c] != uint.MaxValue) counts[c]++;
        }

        Inc(0, _cs, "header");
        Inc(_h.L1TableOffset, _l1.LongLength * 8, "active L1 table");
        _activeDataClusters = _activeCompressedClusters = _activeFragmentedClusters = _nextContiguousHost = 0;
        CountTree(_l1, "active", counts, n, result, Inc);
        if (_snapshots.Count > 0) Inc(_h.SnapshotsOffset, _snapshotTableBytes, "snapshot table");
        foreach (var s in _snapshots)
        {
            Inc(s.L1TableOffset, s.L1Size * 8L, $"snapshot {s.Id} L1 table");
            CountTree(ReadTable(s.L1TableOffset, s.L1Size), $"snapshot {s.Id}", counts, n, result, Inc);
        }
        if (includeRefcountStructures)
        {
            Inc(_h.RefcountTableOffset, (long)_h.RefcountTableClusters * _cs, "refcount table");
            for (long t = 0; t < _rt.LongLength; t++)
            {
                if (_rt[t] == 0) continue;
                long off = (long)(_rt[t] & Qcow2Entry.RefTableOffsetMask);
                if ((_rt[t] & Qcow2Entry.RefTableReserved) != 0 || (off & (_cs - 1)) != 0)
                {
                    result.Corruptions++;
                    result.Messages.Add($"ERROR refcount block {t} offset 0x{_rt[t]:X} is not cluster-aligned");
                    continue;
                }
                Inc(off, _cs, $"refcount block {t}");
            }
        }
        if (_h.Find(Qcow2HeaderExtension.Bitmaps) is not null)
            result.Messages.Add("note: persistent bitmap clusters are not counted by this check");
        // As qemu-img reports it: guest clusters the active tree maps to host data (compressed included).
        result.AllocatedClusters = _activeDataClusters;
        result.CompressedClusters = _activeCompressedClusters;
        result.FragmentedClusters = _activeFragmentedClusters;
        result.TotalClusters = (_h.Size + _cs - 1) >> _clusterBits;
        return counts;
    }

    private void CountTree(ulong[] l1, string tree, uint[] counts, long n, CheckResult result, Action<long, long, string> inc)
    {
        for (long i = 0; i < l1.LongLength; i++)
        {
            TrimCaches(); // a walk of a large image must not keep every L2 table
            ulong le = l1[i];
            long off = (long)(le & Qcow2Entry.OffsetMask);
            if ((le & Qcow2Entry.L1Reserved) != 0)
            {
                result.Corruptions++;
                result.Messages.Add($"ERROR {tree} L1 entry {i} = 0x{le:X16} has reserved bits set");
                continue;
            }
            if (off == 0) continue;
            if ((off & (_cs - 1)) != 0 || off + _cs > _file.Length)
            {
                result.Corruptions++;
                result.Messages.Add($"ERROR {tree} L2 table at 0x{off:X} is misaligned or past the end of the file");
                continue;
            }
            inc(off, _cs, $"{tree} L2 table");
            var t = GetL2(off);
            for (int j = 0; j < t.Entries.Length; j++)
            {
                ulong e = t.Entries[j];
                if ((e & Qcow2Entry.Compressed) != 0)
                {
                    if ((e & Qcow2Entry.Copied) != 0)
                    {
                        result.Corruptions++;
                        result.Messages.Add($"ERROR {tree} compressed cluster entry 0x{e:X16} has the copied flag set");
                    }
                    var (first, last) = CompressedClusters(e);
                    inc(first << _clusterBits, (last - first + 1) << _clusterBits, $"{tree} compressed cluster");
                    if (ReferenceEquals(l1, _l1))
                    {
                        // qemu-img counts a compressed cluster as fragmented by nature.
                        _activeDataClusters++;
                        _activeCompressedClusters++;
                        _activeFragmentedClusters++;
                    }
                    continue;
                }
                if ((e & Qcow2Entry.L2Reserved) != 0)
                {
                    result.Corruptions++;
                    result.Messages.Add($"ERROR {tree} L2 entry 0x{e:X16} has reserved bits set");
                    continue;
                }
                long data = (long)(e & Qcow2Entry.OffsetMask);
                if (data == 0) continue;
                if ((data & (_cs - 1)) != 0)
                {
                    result.Corruptions++;
                    result.Messages.Add($"ERROR {tree} data cluster offset 0x{data:X} is not cluster-aligned");
                    continue;
                }
                inc(data, _cs, $"{tree} data cluster");
                if (ReferenceEquals(l1, _l1))
                {
                    _activeDataClusters++;
                    if (_nextContiguousHost != 0 && data != _nextContiguousHost) _activeFragmentedClusters++;
                    _nextContiguousHost = data + _cs;
                }
            }
        }
    }

    /// <summary>
    /// qemu-img's image-end-offset: the end of the highest cluster that is referenced or has a stored refcount
    /// (a leaked cluster past every reference still counts).
    /// </summary>
    private long ImageEnd(uint[] counts, List<(long Cluster, ulong Stored, ulong Computed)> mismatches)
    {
        long highest = -1;
        for (long c = counts.LongLength - 1; c >= 0; c--)
            if (counts[c] != 0) { highest = c; break; }
        foreach (var (cluster, stored, _) in mismatches)
            if (stored != 0 && cluster > highest) highest = cluster;
        return (highest + 1) << _clusterBits;
    }

    /// <summary>Stored against recomputed refcounts; returns the clusters that differ.</summary>
    private List<(long Cluster, ulong Stored, ulong Computed)> Compare(uint[] counts, CheckResult result)
    {
        var diff = new List<(long, ulong, ulong)>();
        void One(long c, ulong computed)
        {
            ulong stored = GetRefcount(c);
            if (computed == stored) return;
            if (computed < stored)
            {
                result.Leaks++;
                result.Messages.Add($"Leaked cluster {c} refcount={stored} reference={computed}");
            }
            else
            {
                result.Corruptions++;
                result.Messages.Add($"ERROR cluster {c} refcount={stored} reference={computed}");
            }
            diff.Add((c, stored, computed));
        }
        // Like qemu-img, only clusters inside the image (file or allocation high-water mark) are compared:
        // a count for a cluster past the end references nothing and is never allocated from.
        for (long t = 0; t < (counts.LongLength + _refBlockEntries - 1) >> _refBlockBits; t++)
        {
            long first = t << _refBlockBits, end = Math.Min(first + _refBlockEntries, counts.LongLength);
            try
            {
                if (GetRefBlock(t) is null)
                {
                    // No block: every stored count is 0, so only referenced clusters differ.
                    for (long c = first; c < end; c++) if (counts[c] != 0) One(c, counts[c]);
                    continue;
                }
            }
            catch (ImageFormatException e)
            {
                result.Corruptions++;
                result.Messages.Add($"ERROR {e.Message}");
                continue;
            }
            for (long c = first; c < end; c++) One(c, counts[c]);
        }
        return diff;
    }

    /// <summary>
    /// The copied flag must be set exactly on active-tree clusters referenced once. Judged against the recomputed
    /// counts: a stored count that is merely too high is a leak (repairable by -r leaks), as a crash during a snapshot
    /// operation leaves it. qemu-img judges against the stored count and reports such flags until the leak is fixed.
    /// </summary>
    private void CheckCopiedFlags(CheckResult result, uint[] counts)
    {
        for (long i = 0; i < _l1.LongLength; i++)
        {
            TrimCaches();
            long off = (long)(_l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0 || (off & (_cs - 1)) != 0 || off + _cs > _file.Length) continue;
            bool l1Copied = (_l1[i] & Qcow2Entry.Copied) != 0;
            if (!TryStoredRefcount(off >> _clusterBits, out ulong rc)) continue;
            if ((rc == 1) != l1Copied)
            {
                result.Corruptions++;
                result.Messages.Add($"ERROR OFLAG_COPIED L2 cluster: l1_index={i} l1_entry=0x{_l1[i]:X} refcount={rc}{CopiedNote(l1Copied, Counted(counts, off >> _clusterBits))}");
            }
            var t = GetL2(off);
            for (int j = 0; j < t.Entries.Length; j++)
            {
                ulong e = t.Entries[j];
                if ((e & (Qcow2Entry.Compressed | Qcow2Entry.L2Reserved)) != 0) continue;
                long data = (long)(e & Qcow2Entry.OffsetMask);
                if (data == 0 || (data & (_cs - 1)) != 0) continue;
                if (!TryStoredRefcount(data >> _clusterBits, out ulong drc)) continue;
                if ((drc == 1) != ((e & Qcow2Entry.Copied) != 0))
                {
                    result.Corruptions++;
                    result.Messages.Add($"ERROR OFLAG_COPIED data cluster: l2_entry=0x{e:X} refcount={drc}{CopiedNote((e & Qcow2Entry.Copied) != 0, Counted(counts, data >> _clusterBits))}");
                }
            }
        }
    }

    /// <summary>
    /// qemu-img 7.2 (check_oflag_copied) compares the flag with the refcount stored in the image, not with the
    /// references it counted, and skips a cluster whose refcount it cannot read; so does this, so both give the same
    /// verdict on a half-done snapshot operation (refcounts raised, flags not yet cleared: corruption, exit 2).
    /// </summary>
    private bool TryStoredRefcount(long cluster, out ulong refcount)
    {
        try { refcount = GetRefcount(cluster); return true; }
        catch (ImageFormatException) { refcount = 0; return false; }
    }

    /// <summary>
    /// A missing flag only costs a needless copy, and a flag over a stored refcount that is only too high (one
    /// reference counted) is a leak in disguise; both are what a crash inside snapshot create or delete can leave, as
    /// in QEMU (qcow2 has no journal), and -r all repairs them. A flag on a cluster with several references would let a
    /// write change a snapshot.
    /// </summary>
    private static string CopiedNote(bool flagSet, ulong references) =>
        !flagSet ? " (flag missing: harmless, repaired by -r all)"
        : references <= 1 ? " (stored refcount too high: harmless, repaired by -r all)"
        : " (flag set on a shared cluster)";

    private static ulong Counted(uint[] counts, long cluster) => cluster < counts.LongLength ? counts[cluster] : 0;

    /// <summary>
    /// Writes a fresh refcount table and blocks after everything in use, counting themselves, and switches the header
    /// to them (QEMU's rebuild_refcount_structure). The old structures become free.
    /// </summary>
    private void RebuildRefcounts()
    {
        var scratch = new CheckResult();
        var counts = Recount(scratch, includeRefcountStructures: false);
        long start = counts.LongLength;
        for (long c = counts.LongLength - 1; c >= 0 && counts[c] == 0; c--) start = c;
        start = Math.Max(start, 1);
        long blocks = 0, k = 1;
        while (true)
        {
            long total = start + k + blocks;
            long nb = (total + _refBlockEntries - 1) >> _refBlockBits;
            long nk = Math.Max(1, (nb * 8 + _cs - 1) >> _clusterBits);
            if (nb == blocks && nk == k) break;
            blocks = nb; k = nk;
        }
        if (k << _clusterBits > Qcow2Header.MaxRefcountTableBytes)
            throw new ImageFormatException(FileName, "rebuilt refcount table would exceed 8 MiB");
        long end = start + k + blocks;
        var rt = new ulong[(k << _clusterBits) / 8];
        _refBlocks.Clear();
        _pendingFree.Clear();
        for (long b = 0; b < blocks; b++)
        {
            long at = (start + k + b) << _clusterBits;
            rt[b] = (ulong)at;
            _refBlocks[b] = new RefBlock(at, new byte[_cs]) { Dirty = true };
        }
        _rt = rt;
        for (long c = 0; c < counts.LongLength; c++)
            if (counts[c] != 0) SetRefcount(c, Math.Min(counts[c], MaxRefcount));
        for (long c = start; c < end; c++) SetRefcount(c, 1);
        foreach (var blk in _refBlocks.Values) { WriteAt(blk.Offset, blk.Data); blk.Dirty = false; }
        WriteTable(start << _clusterBits, rt);
        _rtDirty = false;
        _h.RefcountTableOffset = start << _clusterBits;
        _h.RefcountTableClusters = (uint)k;
        WriteHeader();
        _highWater = Math.Max(end, (_file.Length + _cs - 1) >> _clusterBits);
        _freeHint = 1;
    }
}
