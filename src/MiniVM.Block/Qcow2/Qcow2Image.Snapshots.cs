using System.Buffers.Binary;
using System.Globalization;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// Internal snapshots (qcow2.txt "Snapshots"; qcow3.md §2.6, §2.7), done the way QEMU's qcow2-snapshot.c does them so
/// that qemu-img and QEMU's loadvm accept ours and we accept theirs. The VM state is stored through the active tree
/// at <see cref="VmStateOffset"/> before the L1 is copied, then dropped from the active tree.
/// </summary>
public sealed partial class Qcow2Image : ISnapshotStore
{
    public IReadOnlyList<SnapshotInfo> ListSnapshots()
    {
        using var gate = Gate.EnterScope();
        var list = new List<SnapshotInfo>(_snapshots.Count);
        foreach (var s in _snapshots)
        {
            var date = DateTimeOffset.FromUnixTimeSeconds(s.DateSeconds).AddTicks(s.DateNanoseconds / 100);
            long? icount = null;
            if (s.ExtraData.Length >= 24 && BinaryPrimitives.ReadUInt64BigEndian(s.ExtraData.AsSpan(16)) is var ic && ic <= long.MaxValue)
                icount = (long)ic; // all ones: not recorded (qcow2.txt "icount")
            list.Add(new SnapshotInfo(s.Id, s.Name, s.VmStateSize, date, (long)Math.Min(s.VmClockNanoseconds, long.MaxValue),
                InstructionCount: icount));
        }
        return list;
    }

    private Qcow2Snapshot Find(string idOrName)
    {
        foreach (var s in _snapshots) if (s.Id == idOrName) return s;
        foreach (var s in _snapshots) if (s.Name == idOrName) return s;
        throw new ImageFormatException(FileName, $"no snapshot with id or name '{idOrName}'");
    }

    public SnapshotInfo CreateSnapshot(string name, long vmClockNanoseconds = 0, Action<Stream>? writeVmState = null)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        if (string.IsNullOrEmpty(name)) throw new ImageFormatException(FileName, "snapshot name is empty");
        if (_snapshots.Count >= Qcow2Header.MaxSnapshots)
            throw new ImageFormatException(FileName, $"image already has {Qcow2Header.MaxSnapshots} snapshots");
        TrimCaches();
        long vmOffset = VmStateOffset, vmSize = 0;
        if (writeVmState is not null)
        {
            using var stream = new VmStateWriter(this, vmOffset);
            using (var buffered = new BufferedStream(stream, _cs))
            {
                writeVmState(buffered);
                buffered.Flush();
            }
            vmSize = stream.Position;
        }
        FlushMetadata();

        EnsureRefcountTableRoom();
        long l1At = _l1.LongLength == 0 ? 0 : _h.L1TableOffset; // the snapshot keeps the active L1 as it is on disk
        long oldRtAt = _h.RefcountTableOffset, oldRtClusters = _h.RefcountTableClusters;
        var oldRt = (ulong[])_rt.Clone();

        long maxId = 0;
        foreach (var s in _snapshots)
            if (long.TryParse(s.Id, NumberStyles.None, CultureInfo.InvariantCulture, out long id)) maxId = Math.Max(maxId, id);
        var now = DateTimeOffset.UtcNow;
        long unixNs = (now - DateTimeOffset.UnixEpoch).Ticks * 100;
        var extra = new byte[Qcow2Snapshot.DefaultExtraData];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(extra.AsSpan(16), -1); // icount: not recorded
        var sn = new Qcow2Snapshot
        {
            L1TableOffset = l1At,
            L1Size = (uint)_l1.LongLength,
            Id = (maxId + 1).ToString(CultureInfo.InvariantCulture),
            Name = name,
            DateSeconds = (uint)(unixNs / 1_000_000_000),
            DateNanoseconds = (uint)(unixNs % 1_000_000_000),
            VmClockNanoseconds = (ulong)Math.Max(0, vmClockNanoseconds),
            VmStateSize = vmSize,
            DiskSize = _h.Size,
            ExtraData = extra,
        };
        var list = new List<Qcow2Snapshot>(_snapshots) { sn };
        CommitSnapshotCreate(list, oldRt, oldRtAt, oldRtClusters);

        // QEMU drops the VM state from the active tree after the copy: it only costs copy-on-write later.
        if (vmSize > 0) DropRange(vmOffset, vmSize);
        RefreshCopiedFlags();
        FlushMetadata();
        return ListSnapshots()[^1];
    }

    public void RevertToSnapshot(string idOrName)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        var sn = Find(idOrName);
        TrimCaches();
        FlushMetadata();
        var snL1 = ReadTable(sn.L1TableOffset, sn.L1Size);
        long size = sn.DiskSize ?? _h.Size;
        if (_h.L1EntriesFor(size) > Math.Max(snL1.LongLength, _l1.LongLength))
            throw new ImageFormatException(FileName, $"snapshot '{sn.Name}' has an L1 table too small for its disk size");
        if (snL1.LongLength > _l1.LongLength) GrowL1(snL1.LongLength, exact: true);
        UpdateTreeRefcounts(snL1, +1);
        var old = _l1;
        var nl1 = new ulong[_l1.LongLength];
        Array.Copy(snL1, nl1, snL1.LongLength);
        _l1 = nl1;
        _l1Dirty = true;
        UpdateTreeRefcounts(old, -1);
        RefreshCopiedFlags();
        FlushMetadata();
        if (size != _h.Size)
        {
            _h.Size = size;
            WriteHeader();
        }
        _compressedKey = ulong.MaxValue;
    }

    public void DeleteSnapshot(string idOrName)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        var sn = Find(idOrName);
        TrimCaches();
        FlushMetadata();
        var list = new List<Qcow2Snapshot>(_snapshots);
        list.Remove(sn);
        WriteSnapshotTable(list);
        var snL1 = ReadTable(sn.L1TableOffset, sn.L1Size);
        UpdateTreeRefcounts(snL1, -1);
        if (sn.L1Size > 0)
        {
            long clusters = (sn.L1Size * 8L + _cs - 1) >> _clusterBits;
            for (long c = 0; c < clusters; c++) FreeLater((sn.L1TableOffset >> _clusterBits) + c);
        }
        RefreshCopiedFlags();
        FlushMetadata();
    }

    public Stream OpenVmState(string idOrName)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        var sn = Find(idOrName);
        if (sn.VmStateSize == 0) throw new ImageFormatException(FileName, $"snapshot '{sn.Name}' has no VM state");
        var l1 = ReadTable(sn.L1TableOffset, sn.L1Size);
        long offset = VmStateOffsetFor(sn.DiskSize ?? _h.Size);
        if (_h.L1EntriesFor(offset + sn.VmStateSize) > l1.LongLength)
            throw new ImageFormatException(FileName, $"snapshot '{sn.Name}' VM state of {sn.VmStateSize} bytes lies beyond its L1 table");
        return new VmStateReader(this, l1, offset, sn.VmStateSize);
    }

    /// <summary>
    /// Adds <paramref name="addend"/> (+1 or -1) to every L2 table and data cluster reachable from <paramref name="l1"/>
    /// (QEMU's qcow2_update_snapshot_refcount). Decrements are deferred to the next flush.
    /// </summary>
    private void UpdateTreeRefcounts(ulong[] l1, int addend)
    {
        for (long i = 0; i < l1.LongLength; i++)
        {
            long off = (long)(l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            var t = GetL2(off);
            foreach (ulong e in t.Entries)
            {
                if ((e & Qcow2Entry.Compressed) != 0)
                {
                    var (first, last) = CompressedClusters(e);
                    for (long c = first; c <= last; c++) Adjust(c, addend);
                }
                else if ((e & Qcow2Entry.OffsetMask) != 0)
                    Adjust((long)(e & Qcow2Entry.OffsetMask) >> _clusterBits, addend);
            }
            Adjust(off >> _clusterBits, addend);
        }
    }

    private void Adjust(long cluster, int addend)
    {
        if (addend > 0) AddRefcount(cluster, addend);
        else FreeLater(cluster);
    }

    /// <summary>
    /// Sets the copied flag exactly where the refcount is 1, over the active tree (QEMU's addend-0 pass). Counts are
    /// taken after the deferred decrements, and the flags reach the disk before those decrements do (see
    /// <see cref="FlushMetadata"/>): a crash in between leaves refcounts too high — a leak — never a copied flag on a
    /// cluster that something else still references.
    /// </summary>
    private void RefreshCopiedFlags()
    {
        for (long i = 0; i < _l1.LongLength; i++)
        {
            long off = (long)(_l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            var t = GetL2(off);
            for (int j = 0; j < t.Entries.Length; j++)
            {
                ulong e = t.Entries[j];
                if ((e & Qcow2Entry.Compressed) != 0 || (e & Qcow2Entry.OffsetMask) == 0) continue;
                bool one = EffectiveRefcount((long)(e & Qcow2Entry.OffsetMask) >> _clusterBits) == 1;
                ulong ne = one ? e | Qcow2Entry.Copied : e & ~Qcow2Entry.Copied;
                if (ne != e) { t.Entries[j] = ne; t.Dirty = true; }
            }
        }
        RefreshL1Copied(_l1);
    }

    private void RefreshL1Copied(ulong[] l1)
    {
        for (long i = 0; i < l1.LongLength; i++)
        {
            long off = (long)(l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            ulong ne = EffectiveRefcount(off >> _clusterBits) == 1 ? l1[i] | Qcow2Entry.Copied : l1[i] & ~Qcow2Entry.Copied;
            if (ne != l1[i]) { l1[i] = ne; if (ReferenceEquals(l1, _l1)) _l1Dirty = true; }
        }
        if (!ReferenceEquals(l1, _l1)) return;
        // The L2 entries of a tree whose refcounts just rose must drop their copied flags too.
        for (long i = 0; i < l1.LongLength; i++)
        {
            long off = (long)(l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            var t = GetL2(off);
            for (int j = 0; j < t.Entries.Length; j++)
            {
                ulong e = t.Entries[j];
                if ((e & Qcow2Entry.Copied) == 0) continue;
                if (EffectiveRefcount((long)(e & Qcow2Entry.OffsetMask) >> _clusterBits) != 1)
                {
                    t.Entries[j] = e & ~Qcow2Entry.Copied;
                    t.Dirty = true;
                }
            }
        }
    }

    /// <summary>
    /// Switches to the state with the new snapshot by one header write, so that a kill at any point leaves either the
    /// old state or the new one plus leaked clusters. The copied flag must be set exactly where the stored refcount is
    /// 1 (qemu-img check counts either mismatch as a corruption), and a refcount block and an L2 table are different
    /// clusters, so no in-place order can raise the counts and clear the flags without a corrupt moment. Instead the
    /// active tree gets new copies of the L2 tables whose flags change and a new L1 (the snapshot keeps the old ones
    /// as they are on disk), the changed refcount blocks and the refcount table are written to new clusters, and the
    /// header then names the new L1, refcount table and snapshot table at once. The old refcount structures and
    /// snapshot table stay counted in the new state and are freed afterwards (a leak if killed before).
    /// </summary>
    private void CommitSnapshotCreate(List<Qcow2Snapshot> list, ulong[] oldRt, long oldRtAt, long oldRtClusters)
    {
        // Every cluster of the active tree gains the snapshot's reference.
        UpdateTreeRefcounts(_l1, +1);
        for (long i = 0; i < _l1.LongLength; i++)
        {
            long off = (long)(_l1[i] & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            var t = GetL2(off);
            var entries = (ulong[])t.Entries.Clone();
            bool changed = false;
            for (int j = 0; j < entries.Length; j++)
                if ((entries[j] & Qcow2Entry.Copied) != 0) { entries[j] &= ~Qcow2Entry.Copied; changed = true; }
            if (!changed) continue; // shared as it is: the new L1 entry drops its copied flag
            long copyAt = AllocateClusters(1) << _clusterBits;
            AddRefcount(off >> _clusterBits, -1); // the old table is the snapshot's alone
            _l2Cache[copyAt] = new L2Table(copyAt, entries) { Dirty = true };
            _l1[i] = (_l1[i] & ~Qcow2Entry.OffsetMask) | (ulong)copyAt;
        }
        RefreshL1Copied(_l1);
        long l1Clusters = Math.Max(1, (_l1.LongLength * 8 + _cs - 1) >> _clusterBits);
        long newL1At = _l1.LongLength == 0 ? _h.L1TableOffset : AllocateClusters(l1Clusters) << _clusterBits;

        var bytes = Qcow2Snapshot.WriteTable(list);
        long snClusters = (bytes.LongLength + _cs - 1) >> _clusterBits;
        long snAt = AllocateClusters(snClusters) << _clusterBits;

        long rtClusters = (_rt.LongLength * 8 + _cs - 1) >> _clusterBits;
        long rtAt = AllocateClusters(rtClusters) << _clusterBits;
        // Every changed refcount block moves to a new cluster; taking one may change another block, so repeat.
        var moved = new List<long>();
        while (true)
        {
            long move = -1;
            foreach (var (k, b) in _refBlocks)
                if (b.Dirty && k < oldRt.LongLength && b.Offset == (long)(oldRt[k] & Qcow2Entry.RefTableOffsetMask)) { move = k; break; }
            if (move < 0) break;
            var old = _refBlocks[move];
            long at = AllocateClusters(1) << _clusterBits;
            _refBlocks[move] = new RefBlock(at, old.Data) { Dirty = true };
            _rt[move] = (ulong)at;
            moved.Add(old.Offset >> _clusterBits);
        }
        if (_rt.LongLength * 8 > rtClusters << _clusterBits || _h.RefcountTableOffset != oldRtAt)
            throw new InvalidOperationException("refcount table grew during snapshot create despite EnsureRefcountTableRoom");

        foreach (var t in _l2Cache.Values)
            if (t.Dirty) WriteL2(t);
        if (_l1.LongLength > 0) WriteTable(newL1At, _l1);
        var padded = new byte[snClusters << _clusterBits];
        bytes.CopyTo(padded, 0);
        WriteAt(snAt, padded);
        foreach (var blk in _refBlocks.Values)
            if (blk.Dirty) { WriteAt(blk.Offset, blk.Data); blk.Dirty = false; }
        WriteTable(rtAt, _rt);

        long oldSnAt = _h.SnapshotsOffset, oldSnBytes = _snapshots.Count > 0 ? _snapshotTableBytes : 0;
        _h.L1TableOffset = newL1At;
        _h.RefcountTableOffset = rtAt;
        _h.RefcountTableClusters = (uint)rtClusters;
        _h.SnapshotsOffset = snAt;
        _h.SnapshotCount = (uint)list.Count;
        WriteHeader(); // syncs what it points at first: the commit point
        _l1Dirty = false;
        _rtDirty = false;
        _snapshots = list;
        _snapshotTableBytes = bytes.LongLength;

        for (long c = 0; c < oldRtClusters; c++) FreeLater((oldRtAt >> _clusterBits) + c);
        foreach (long c in moved) FreeLater(c);
        if (oldSnAt != 0 && oldSnBytes > 0)
            for (long c = 0; c < (oldSnBytes + _cs - 1) >> _clusterBits; c++) FreeLater((oldSnAt >> _clusterBits) + c);
    }

    /// <summary>
    /// Grows the refcount table now, before <see cref="CommitSnapshotCreate"/> changes anything, if the clusters it may
    /// take could need a table entry past the end (growing flushes in place, which the commit must not do).
    /// </summary>
    private void EnsureRefcountTableRoom()
    {
        long l2Tables = 0;
        foreach (ulong e in _l1) if ((e & Qcow2Entry.OffsetMask) != 0) l2Tables++;
        long worst = l2Tables + 2 * ((_l1.LongLength * 8 + _cs - 1) >> _clusterBits) + 2 * ((_rt.LongLength * 8 + _cs - 1) >> _clusterBits)
            + (Qcow2Snapshot.WriteTable(_snapshots).LongLength >> _clusterBits) + 4 + 2 * (_refBlocks.Count + _rt.LongLength);
        long need = ((_highWater + 2 * worst) >> _refBlockBits) + 2;
        if (need > _rt.LongLength) GrowRefcountTable(need);
    }

    /// <summary>Writes the table to new clusters, switches the header to it, frees the old one.</summary>
    private void WriteSnapshotTable(List<Qcow2Snapshot> list)
    {
        long newOffset = 0, newClusters = 0, newBytes = 0;
        if (list.Count > 0)
        {
            var bytes = Qcow2Snapshot.WriteTable(list);
            newBytes = bytes.LongLength;
            newClusters = (bytes.LongLength + _cs - 1) >> _clusterBits;
            newOffset = AllocateClusters(newClusters) << _clusterBits;
            var padded = new byte[newClusters << _clusterBits];
            bytes.CopyTo(padded, 0);
            WriteAt(newOffset, padded);
        }
        FlushMetadata();
        long oldOffset = _h.SnapshotsOffset, oldBytes = _snapshots.Count > 0 ? _snapshotTableBytes : 0;
        _h.SnapshotsOffset = newOffset;
        _h.SnapshotCount = (uint)list.Count;
        WriteHeader();
        _snapshots = list;
        _snapshotTableBytes = newBytes;
        if (oldOffset != 0 && oldBytes > 0)
        {
            long oldClusters = (oldBytes + _cs - 1) >> _clusterBits;
            for (long c = 0; c < oldClusters; c++) FreeLater((oldOffset >> _clusterBits) + c);
        }
    }

    /// <summary>Unmaps guest clusters fully inside [offset, offset+length) from the active tree (VM state area).</summary>
    private void DropRange(long offset, long length)
    {
        long first = (offset + _cs - 1) >> _clusterBits;
        long end = (offset + length + _cs - 1) >> _clusterBits; // the VM state owns its last partial cluster too
        for (long c = first; c < end; c++)
        {
            long g = c << _clusterBits;
            long l1i = g >> (_clusterBits + _l2Bits);
            if (l1i >= _l1.LongLength || (_l1[l1i] & Qcow2Entry.OffsetMask) == 0) continue;
            var (t, idx) = GetL2ForWrite(g);
            ulong e = t.Entries[idx];
            if (e == 0) continue;
            t.Entries[idx] = 0;
            t.Dirty = true;
            ReleaseEntry(e);
        }
    }

    /// <summary>Write-only stream storing the VM state through the active tree, past the end of the disk.</summary>
    private sealed class VmStateWriter(Qcow2Image image, long start) : Stream
    {
        private long _pos;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _pos;
        public override long Position { get => _pos; set => throw new NotSupportedException("the VM state is written sequentially"); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("write-only stream");
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("the VM state is written sequentially");
        public override void SetLength(long value) => throw new NotSupportedException("the VM state is written sequentially");
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            image.WriteTree(start + _pos, buffer);
            _pos += buffer.Length;
        }
    }

    /// <summary>Read-only stream over a snapshot's VM state, through the snapshot's own L1 table.</summary>
    private sealed class VmStateReader(Qcow2Image image, ulong[] l1, long start, long length) : Stream
    {
        private long _pos;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _pos; set => _pos = Math.Clamp(value, 0, length); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - _pos);
            if (n <= 0) return 0;
            using (image.Gate.EnterScope()) image.ReadTree(l1, start + _pos, buffer[..n], 0);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _pos + offset, _ => length + offset };
            return _pos;
        }
        public override void SetLength(long value) => throw new NotSupportedException("read-only stream");
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("read-only stream");
    }
}
