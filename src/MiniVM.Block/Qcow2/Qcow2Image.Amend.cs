namespace MiniVM.Block.Qcow2;

/// <summary>
/// qemu-img amend of `compat` and `refcount_bits` (qemu 7.2 qcow2_amend_options, qcow2_upgrade, qcow2_downgrade,
/// qcow2_change_refcount_order), in qemu's order: upgrade to version 3, then the refcount width, then a downgrade
/// to version 2. Every step ends in one header write that switches the image to its new form, so a crash before it
/// leaves the old image whole (at most with leaked clusters).
/// </summary>
public sealed partial class Qcow2Image : IAmendableOptions
{
    public IReadOnlyCollection<string> AmendableOptions { get; } = ["compat", "refcount_bits"];

    public void CheckAmend(ImageCreateOptions options)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        PlanAmend(options);
    }

    public void Amend(ImageCreateOptions options)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        var (version, order) = PlanAmend(options);
        if (version > _h.Version) Upgrade();
        if (order != _h.RefcountOrder) ChangeRefcountOrder(order);
        if (version < _h.Version) Downgrade();
    }

    /// <summary>The version and refcount order asked for, refused with qemu-img's messages where it refuses.</summary>
    private (int Version, int Order) PlanAmend(ImageCreateOptions options)
    {
        string? compat = options.Get("compat");
        int version = compat switch
        {
            null => _h.Version,
            "0.10" or "v2" => 2,
            "1.1" or "v3" => 3,
            _ => throw new ImageFormatException($"Unknown compatibility level {compat}"),
        };
        int order = _h.RefcountOrder;
        if (options.Get("refcount_bits") is { } bitsText)
        {
            long bits = SizeParser.Parse(bitsText, "refcount_bits");
            if (bits < 1 || bits > 64 || (bits & (bits - 1)) != 0)
                throw new ImageFormatException("Refcount width must be a power of two and may not exceed 64 bits");
            order = System.Numerics.BitOperations.Log2((ulong)bits);
        }
        if (version == 2 && order != 4)
        {
            if (compat is not null && _h.Version == 3) throw new NotSupportedException("compat=0.10 requires refcount_bits=16");
            throw new ImageFormatException("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
        }
        if (version < _h.Version)
        {
            foreach (var s in _snapshots)
                if (s.VmStateSize > uint.MaxValue || (s.DiskSize ?? _h.Size) != _h.Size)
                    throw new NotSupportedException("Internal snapshots prevent downgrade of image");
            ulong incompatible = _h.IncompatibleFeatures & ~Qcow2Header.IncompatDirty;
            if (incompatible != 0)
                throw new NotSupportedException($"Cannot downgrade an image with incompatible features 0x{incompatible:x} set");
        }
        if (order < _h.RefcountOrder)
        {
            var counts = RecountForAmend();
            ulong max = (1UL << (1 << order)) - 1;
            for (long c = 0; c < counts.LongLength; c++)
                if (counts[c] > max)
                    throw new NotSupportedException(
                        $"Cannot decrease refcount entry width to {1 << order} bits: Cluster at offset 0x{c << _clusterBits:x} has a refcount of {counts[c]}");
        }
        return (version, order);
    }

    /// <summary>Every cluster's references, refcount structures aside; a corrupt image is refused.</summary>
    private uint[] RecountForAmend()
    {
        var result = new CheckResult();
        var counts = Recount(result, includeRefcountStructures: false);
        if (result.Corruptions > 0)
            throw new ImageFormatException(FileName, $"{result.Corruptions} corruptions found; repair the image (img check -r all) before amending it");
        return counts;
    }

    /// <summary>
    /// Version 2 to 3 (qcow2_upgrade): version 3 needs every snapshot's 64-bit VM state size and disk size in its
    /// extra data, so a table without them is written anew; then the header.
    /// </summary>
    private void Upgrade()
    {
        FlushMetadata();
        if (_snapshots.Any(s => s.ExtraData.Length < 16)) WriteSnapshotTable([.. _snapshots]);
        if (_h.TailFields.Length < Qcow2Header.V3DefaultLength - Qcow2Header.V3MinLength)
            _h.TailFields = new byte[Qcow2Header.V3DefaultLength - Qcow2Header.V3MinLength];
        _h.Version = 3;
        _h.RefcountOrder = 4;
        WriteHeader();
    }

    /// <summary>
    /// Version 3 to 2 (qcow2_downgrade): zero clusters, which version 2 cannot express, become what they read as;
    /// compatible and autoclear features are dropped (version 2 has no fields for them); then the header.
    /// </summary>
    private void Downgrade()
    {
        ExpandZeroClusters();
        FlushMetadata();
        Sync();
        _h.CompatibleFeatures = 0;
        _h.AutoclearFeatures = 0;
        _h.IncompatibleFeatures = 0;
        _h.Version = 2;
        WriteHeader();
    }

    /// <summary>
    /// qcow2_expand_zero_clusters over the active and every snapshot's tables: a zero cluster without a host cluster
    /// is simply unmapped when there is no backing file (it reads as zeroes anyway); otherwise it gets a host cluster
    /// of zeroes, counted once for each table that shares its L2 table, and loses the zero flag.
    /// </summary>
    private void ExpandZeroClusters()
    {
        var zeroes = new byte[_cs];
        var seen = new HashSet<long>();
        bool backed = _h.BackingFileName is not null;
        foreach (var l1 in _snapshots.Select(s => ReadTable(s.L1TableOffset, s.L1Size)).Prepend(_l1))
            foreach (ulong l1e in l1)
            {
                long l2Offset = (long)(l1e & Qcow2Entry.OffsetMask);
                if (l2Offset == 0 || !seen.Add(l2Offset)) continue;
                var t = GetL2(l2Offset);
                ulong sharers = GetRefcount(l2Offset >> _clusterBits);
                bool changed = false;
                for (int i = 0; i < t.Entries.Length; i++)
                {
                    ulong e = t.Entries[i];
                    if ((e & Qcow2Entry.Zero) == 0 || (e & Qcow2Entry.Compressed) != 0) continue;
                    long host = (long)(e & Qcow2Entry.OffsetMask);
                    changed = true;
                    if (host == 0)
                    {
                        if (!backed) { t.Entries[i] = 0; continue; }
                        host = AllocateClusters(1) << _clusterBits;
                        if (sharers > 1) AddRefcount(host >> _clusterBits, (int)Math.Min(sharers - 1, int.MaxValue));
                    }
                    WriteAt(host, zeroes);
                    t.Entries[i] = (ulong)host | (GetRefcount(host >> _clusterBits) == 1 ? Qcow2Entry.Copied : 0);
                }
                if (changed)
                {
                    Sync(); // the zeroes are on disk before an L2 entry points at them
                    WriteL2(t);
                }
            }
    }

    /// <summary>
    /// A new refcount table and blocks of the new width (qcow2_change_refcount_order), written past the end of the
    /// file so the old ones stay valid until the header switches; they count every cluster in use and themselves.
    /// The old structures are then free clusters.
    /// </summary>
    private void ChangeRefcountOrder(int order)
    {
        FlushMetadata();
        Sync();
        var counts = RecountForAmend();
        int blockBits = _clusterBits + 3 - order;
        long entries = 1L << blockBits;
        long start = Math.Max(_highWater, (_file.Length + _cs - 1) >> _clusterBits);
        long blocks = 0, k = 1;
        while (true)
        {
            long total = start + k + blocks;
            long nb = (total + entries - 1) >> blockBits;
            long nk = Math.Max(1, (nb * 8 + _cs - 1) >> _clusterBits);
            if (nb == blocks && nk == k) break;
            blocks = nb; k = nk;
        }
        if (k << _clusterBits > Qcow2Header.MaxRefcountTableBytes)
            throw new ImageFormatException(FileName, $"a refcount table for {1 << order}-bit refcounts would exceed 8 MiB");
        long end = start + k + blocks;
        var rt = new ulong[(k << _clusterBits) / 8];
        var data = new byte[blocks][];
        for (long b = 0; b < blocks; b++)
        {
            rt[b] = (ulong)((start + k + b) << _clusterBits);
            data[b] = new byte[_cs];
        }
        void Set(long cluster, ulong v) => SetEntry(order, data[cluster >> blockBits], cluster & (entries - 1), v);
        for (long c = 0; c < counts.LongLength; c++)
            if (counts[c] != 0) Set(c, counts[c]);
        for (long c = start; c < end; c++) Set(c, 1);
        for (long b = 0; b < blocks; b++) WriteAt((long)rt[b], data[b]);
        WriteTable(start << _clusterBits, rt);
        Sync();
        _h.RefcountOrder = order;
        _h.RefcountTableOffset = start << _clusterBits;
        _h.RefcountTableClusters = (uint)k;
        WriteHeader();
        _refBlockBits = blockBits;
        _refBlockEntries = entries;
        _rt = rt;
        _rtDirty = false;
        _refBlocks.Clear();
        _pendingFree.Clear();
        _freeHint = 1;
        _highWater = Math.Max(end, (_file.Length + _cs - 1) >> _clusterBits);
    }
}
