namespace MiniVM.Block.Qcow2;

/// <summary>
/// What an internal snapshot owns (<see cref="ISnapshotOwnership"/>): its L2 entries compared with the active table's,
/// qcow2.txt "Cluster mapping". Snapshots and the active state share L2 tables until one of them is written (an L1
/// entry then stops being shared), so an L1 entry equal to the active one is skipped without reading its table.
/// </summary>
public sealed partial class Qcow2Image : ISnapshotOwnership
{
    public SnapshotOwnership VisitOwnedClusters(string idOrName, Action<long> visit)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        var sn = Find(idOrName);
        TrimCaches();
        var snL1 = ReadTable(sn.L1TableOffset, sn.L1Size);
        long clusters = 0, exclusive = 0;
        for (long l1i = 0; l1i < snL1.LongLength; l1i++)
        {
            ulong le = snL1[l1i];
            if ((le & Qcow2Entry.L1Reserved) != 0)
                throw new ImageFormatException(FileName, $"snapshot '{sn.Name}' L1 entry {l1i} = 0x{le:X16} has reserved bits set (image is corrupt)");
            long off = (long)(le & Qcow2Entry.OffsetMask);
            if (off == 0) continue;
            if (l1i < _l1.LongLength && (long)(_l1[l1i] & Qcow2Entry.OffsetMask) == off) continue; // the same L2 table
            var entries = GetL2(off).Entries;
            long first = l1i << _l2Bits;
            for (long k = 0; k < entries.LongLength; k++)
            {
                ulong e = entries[k];
                long guest = first + k;
                ulong mine = Reading(e, guest << _clusterBits);
                if (mine == 0) continue;
                if (mine == Reading(LookupEntry(_l1, guest << _clusterBits), guest << _clusterBits)) continue;
                clusters++;
                if ((e & Qcow2Entry.Compressed) == 0 && (e & Qcow2Entry.OffsetMask) != 0 &&
                    EffectiveRefcount((long)(e & Qcow2Entry.OffsetMask) >> _clusterBits) == 1)
                    exclusive += _cs;
                visit(guest);
            }
            TrimCaches(); // bounded: at most a cache's worth of tables read per L1 entry
        }
        return new SnapshotOwnership(clusters, exclusive);
    }

    /// <summary>
    /// What an L2 entry makes the guest read, as one comparable number: 0 = nothing (unallocated), <see cref="Qcow2Entry.Zero"/>
    /// = zeroes (wherever its preallocated storage is), a compressed descriptor, or the host data offset (cluster-aligned,
    /// so never 1, and below the compressed bit).
    /// </summary>
    private ulong Reading(ulong e, long guest)
    {
        if ((e & Qcow2Entry.Compressed) != 0) return e & ~Qcow2Entry.Copied;
        if ((e & Qcow2Entry.L2Reserved) != 0)
            throw new ImageFormatException(FileName, $"L2 entry for guest offset 0x{guest:X} = 0x{e:X16} has reserved bits set (image is corrupt)");
        if ((e & Qcow2Entry.Zero) != 0) return Qcow2Entry.Zero;
        return e & Qcow2Entry.OffsetMask;
    }
}
