using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// A qcow2 image, version 2 (compat 0.10) or 3 (compat 1.1), readable and writable interchangeably with qemu-img
/// (qcow3.md §4). Metadata (L1, L2 tables, refcount blocks) is cached and written back in crash-safe order on
/// <see cref="Flush"/>: data and refcount increments, then L2 tables, then L1, then refcount decrements — so a crash
/// can leak clusters but never leave a pointer to a cluster that is unallocated or reused (qcow3.md §4.4.9).
/// </summary>
public sealed partial class Qcow2Image : BlockDriver, IImageInfo, IBackingImage, IUserMetadata, IExtentOwners, IDirtyFlag
{
    /// <summary>Cached metadata above this many bytes is written back and dropped between requests.</summary>
    private const long CacheLimitBytes = 32L * 1024 * 1024;

    private readonly FileStream _file;
    private readonly SafeFileHandle _handle;
    private readonly Qcow2Header _h;
    private readonly int _cs;
    private readonly int _clusterBits;
    private readonly int _l2Bits;
    private readonly int _l2Entries;
    private readonly bool _writable;
    private ulong[] _l1;
    private bool _l1Dirty;
    private readonly Dictionary<long, L2Table> _l2Cache = new();
    private List<Qcow2Snapshot> _snapshots;
    /// <summary>Size of the snapshot table as stored (what its clusters' refcounts cover).</summary>
    private long _snapshotTableBytes;
    private List<KeyValuePair<string, byte[]>> _metadata;
    private IBlockDriver? _backing;
    private bool _needSync;
    // One decompressed cluster, for reads of a compressed cluster in pieces.
    private ulong _compressedKey = ulong.MaxValue;
    private readonly byte[] _compressedBuffer;

    private sealed class L2Table(long offset, ulong[] entries)
    {
        public readonly long Offset = offset;
        public readonly ulong[] Entries = entries;
        public bool Dirty;
    }

    public override string FormatName => "qcow2";
    public override string FileName { get; }
    public override long Size => _h.Size;
    /// <summary>True when opened read-only, or when the image carries the corrupt bit (only check -r all may write).</summary>
    public override bool IsReadOnly => !_writable || (_h.IncompatibleFeatures & Qcow2Header.IncompatCorrupt) != 0;
    public int Version => _h.Version;
    public long ClusterSize => _cs;
    public long DiskUsage => HostFile.AllocatedBytes(FileName);
    public IReadOnlyList<string> Files => [FileName];
    public IReadOnlyList<ExtentOwner> ExtentOwners => [new(FileName, Path.GetFileName(FileName))];
    public string? BackingFileName => _h.BackingFileName;
    public string? BackingFormat => _h.BackingFormat;
    public IBlockDriver? Backing => _backing;
    public int RefcountBits => 1 << _h.RefcountOrder;
    public bool IsDirty => (_h.IncompatibleFeatures & Qcow2Header.IncompatDirty) != 0;

    /// <summary>Guest offset where QEMU keeps the VM state: the disk size rounded up to what one L2 table maps
    /// (qcow2_vm_state_offset: l1_vm_state_index &lt;&lt; (cluster_bits + l2_bits)).</summary>
    public long VmStateOffset => VmStateOffsetFor(_h.Size);

    private long VmStateOffsetFor(long size) => _h.L1EntriesFor(size) << (_clusterBits + _l2Bits);

    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific
    {
        get
        {
            // As qemu-img shows them (qcow2_get_specific_info): version 2 has no feature bits to report.
            var list = _h.Version == 2
                ? new List<KeyValuePair<string, string>>
                {
                    new("compat", "0.10"),
                    new("compression type", "zlib"),
                    new("refcount bits", RefcountBits.ToString()),
                }
                : new List<KeyValuePair<string, string>>
                {
                    new("compat", "1.1"),
                    new("compression type", "zlib"),
                    new("lazy refcounts", ((_h.CompatibleFeatures & Qcow2Header.CompatLazyRefcounts) != 0).ToString().ToLowerInvariant()),
                    new("refcount bits", RefcountBits.ToString()),
                    new("corrupt", ((_h.IncompatibleFeatures & Qcow2Header.IncompatCorrupt) != 0).ToString().ToLowerInvariant()),
                    new("extended l2", "false"),
                };
            if (_metadata.Count > 0) list.Add(new("user metadata entries", _metadata.Count.ToString()));
            return list;
        }
    }

    private Qcow2Image(string fileName, FileStream file, Qcow2Header header, bool writable)
    {
        FileName = fileName;
        _file = file;
        _handle = file.SafeFileHandle;
        _h = header;
        _cs = header.ClusterSize;
        _clusterBits = header.ClusterBits;
        _l2Bits = header.L2Bits;
        _l2Entries = 1 << _l2Bits;
        _writable = writable;
        _l1 = [];
        _snapshots = new();
        _metadata = new();
        _compressedBuffer = new byte[_cs];
        _refBlockBits = _clusterBits + 3 - header.RefcountOrder;
        _refBlockEntries = 1L << _refBlockBits;
        _rt = [];
    }

    /// <summary>Opens an existing image; the backing chain is opened through <paramref name="context"/>.</summary>
    public static Qcow2Image Open(string fileName, ImageOpenContext context)
    {
        FileStream fs;
        try
        {
            fs = new FileStream(fileName, FileMode.Open, context.ReadOnly ? FileAccess.Read : FileAccess.ReadWrite,
                FileShare.ReadWrite, 1, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageFormatException(fileName, $"cannot open: {e.Message}");
        }
        try
        {
            ImageLock.Acquire(fs.SafeFileHandle, fileName, context.ReadOnly ? ImageLock.ReaderMode : ImageLockMode.Write);
            long len = fs.Length;
            var head = new byte[Math.Min(len, Qcow2Header.V3DefaultLength)];
            RandomAccess.Read(fs.SafeFileHandle, head, 0);
            int bits = Qcow2Header.PeekClusterBits(head, fileName);
            var cluster0 = new byte[Math.Min(len, 1L << bits)];
            RandomAccess.Read(fs.SafeFileHandle, cluster0, 0);
            var h = Qcow2Header.Parse(cluster0, len, fileName);
            var img = new Qcow2Image(fileName, fs, h, !context.ReadOnly);
            try
            {
                img.Load(context);
                return img;
            }
            catch
            {
                img._backing?.Dispose();
                throw;
            }
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    private void Load(ImageOpenContext context)
    {
        ulong incompat = _h.IncompatibleFeatures;
        const ulong known = Qcow2Header.IncompatDirty | Qcow2Header.IncompatCorrupt | Qcow2Header.IncompatDataFile |
                            Qcow2Header.IncompatCompression | Qcow2Header.IncompatExtendedL2;
        if ((incompat & ~known) != 0)
            throw ImageFormatException.BadField(FileName, "incompatible_features", $"0x{incompat:X}",
                $"unknown incompatible feature bits 0x{incompat & ~known:X}{FeatureNames(incompat & ~known)}; refusing to open");
        if ((incompat & Qcow2Header.IncompatDataFile) != 0)
            throw new ImageFormatException(FileName, "external data files (incompatible feature bit 2) are not supported");
        if ((incompat & Qcow2Header.IncompatExtendedL2) != 0)
            throw new ImageFormatException(FileName, "extended L2 entries / subclusters (incompatible feature bit 4) are not supported");
        byte compressionType = _h.TailFields.Length > 0 ? _h.TailFields[0] : (byte)0;
        if ((incompat & Qcow2Header.IncompatCompression) != 0 || compressionType != 0)
            throw new ImageFormatException(FileName, $"compression type {compressionType} (zstd) is not supported; only zlib");
        if (_h.Find(Qcow2HeaderExtension.ExternalDataFile) is not null)
            throw new ImageFormatException(FileName, "external data file extension present; not supported");

        _l1 = ReadTable(_h.L1TableOffset, _h.L1Size);
        long rtEntries = (long)_h.RefcountTableClusters * _cs / 8;
        _rt = ReadTable(_h.RefcountTableOffset, rtEntries);
        _highWater = (_file.Length + _cs - 1) >> _clusterBits;
        _snapshots = Qcow2Snapshot.ReadTable(ReadBytes, _h.SnapshotsOffset, _h.SnapshotCount, _cs, _file.Length, FileName,
            out _snapshotTableBytes);
        foreach (var s in _snapshots) s.DiskSize ??= _h.Size;
        if (_h.Find(Qcow2UserMetadata.ExtensionType) is { } meta)
            _metadata = Qcow2UserMetadata.Parse(meta.Data, FileName);

        if (_writable)
        {
            if (_h.Find(Qcow2HeaderExtension.Bitmaps) is not null)
                throw new ImageFormatException(FileName, "image has persistent dirty bitmaps; MiniVM opens such images read-only only");
            bool rewrite = false;
            if (_h.AutoclearFeatures != 0)
            {
                // qcow2.txt: a writer that does not understand an autoclear feature clears its bit.
                _h.AutoclearFeatures = 0;
                rewrite = true;
            }
            if ((_h.IncompatibleFeatures & Qcow2Header.IncompatDirty) != 0 && (_h.IncompatibleFeatures & Qcow2Header.IncompatCorrupt) == 0)
            {
                // Lazy refcounts left the refcounts stale: rebuild them before any allocation (qcow2.txt bit 0).
                var r = Check(RepairMode.All);
                if (r.Corruptions > 0)
                    throw new ImageFormatException(FileName, $"dirty image could not be repaired: {r.Corruptions} corruptions remain");
                _h.IncompatibleFeatures &= ~Qcow2Header.IncompatDirty;
                rewrite = true;
            }
            if (rewrite) WriteHeader();
            if (!MetadataIsCounted())
            {
                // An allocation could hand out a metadata cluster and overwrite it (QEMU's overlap checks guard the
                // same). Writes are refused as for the corrupt bit, in memory only; check -r all repairs and lifts it.
                _h.IncompatibleFeatures |= Qcow2Header.IncompatCorrupt;
            }
        }

        if (_h.BackingFileName is { } name && !context.NoBacking)
            _backing = context.OpenBacking(FileName, name, _h.BackingFormat);
    }

    /// <summary>True when every metadata cluster has a non-zero refcount, so that no allocation can land on one.</summary>
    private bool MetadataIsCounted()
    {
        try
        {
            bool Counted(long offset, long bytes)
            {
                for (long c = offset >> _clusterBits; c <= (offset + Math.Max(bytes, 1) - 1) >> _clusterBits; c++)
                    if (GetRefcount(c) == 0) return false;
                return true;
            }
            if (!Counted(0, _cs) || !Counted(_h.RefcountTableOffset, (long)_h.RefcountTableClusters * _cs)) return false;
            if (_l1.LongLength > 0 && !Counted(_h.L1TableOffset, _l1.LongLength * 8)) return false;
            if (_snapshots.Count > 0 && !Counted(_h.SnapshotsOffset, _snapshotTableBytes)) return false;
            foreach (var s in _snapshots)
                if (s.L1Size > 0 && !Counted(s.L1TableOffset, s.L1Size * 8L)) return false;
            foreach (ulong e in _rt)
                if (e != 0 && (e >= (ulong)Qcow2Header.MaxOffset || !Counted((long)(e & Qcow2Entry.RefTableOffsetMask), _cs))) return false;
            foreach (ulong e in _l1)
                if ((e & Qcow2Entry.OffsetMask) != 0 && !Counted((long)(e & Qcow2Entry.OffsetMask), _cs)) return false;
            return true;
        }
        catch (ImageFormatException)
        {
            return false; // an unreadable refcount block: check reports it
        }
    }

    private string FeatureNames(ulong bits)
    {
        if (_h.Find(Qcow2HeaderExtension.FeatureNameTable) is not { } t) return "";
        var names = new List<string>();
        for (int i = 0; i + 48 <= t.Data.Length; i += 48)
        {
            if (t.Data[i] != 0 || t.Data[i + 1] > 63 || (bits & (1UL << t.Data[i + 1])) == 0) continue;
            var n = t.Data.AsSpan(i + 2, 46);
            int z = n.IndexOf((byte)0);
            names.Add(System.Text.Encoding.UTF8.GetString(z < 0 ? n : n[..z]));
        }
        return names.Count == 0 ? "" : $" ({string.Join(", ", names)})";
    }

    // ---- file access -------------------------------------------------------------------------------------------

    private byte[] ReadBytes(long offset, int length)
    {
        var b = new byte[length];
        ReadAt(offset, b);
        return b;
    }

    /// <summary>pread that reads zeroes past the end of the file.</summary>
    private void ReadAt(long offset, Span<byte> buffer) => ReadHost(_handle, offset, buffer);

    private void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        RandomAccess.Write(_handle, data, offset);
        _needSync = true;
    }

    private void Sync()
    {
        if (!_needSync) return;
        _file.Flush(flushToDisk: true);
        _needSync = false;
    }

    private ulong[] ReadTable(long offset, long entries)
    {
        var t = new ulong[entries];
        if (entries == 0) return t;
        var raw = new byte[entries * 8];
        ReadAt(offset, raw);
        for (long i = 0; i < entries; i++) t[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan((int)(i * 8)));
        return t;
    }

    /// <summary>Writes a table padded with zeroes to whole clusters.</summary>
    private void WriteTable(long offset, ulong[] table)
    {
        long bytes = ((table.LongLength * 8 + _cs - 1) >> _clusterBits) << _clusterBits;
        var raw = new byte[Math.Max(bytes, _cs)];
        for (long i = 0; i < table.LongLength; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan((int)(i * 8)), table[i]);
        WriteAt(offset, raw);
    }

    /// <summary>Rewrites cluster 0 in one write, after everything it points at is durable (qcow3.md §4.2).</summary>
    private void WriteHeader()
    {
        var prefix = _h.ToBytes();
        Sync();
        WriteAt(0, prefix);
        Sync();
    }

    // ---- L2 tables ---------------------------------------------------------------------------------------------

    private L2Table GetL2(long offset)
    {
        if (_l2Cache.TryGetValue(offset, out var t)) return t;
        if ((offset & (_cs - 1)) != 0 || offset < _cs || offset + _cs > _file.Length)
            throw new ImageFormatException(FileName, $"L2 table offset 0x{offset:X} is not a cluster inside the file (image is corrupt)");
        var raw = ArrayPool<byte>.Shared.Rent(_cs);
        try
        {
            ReadAt(offset, raw.AsSpan(0, _cs));
            var e = new ulong[_l2Entries];
            for (int i = 0; i < e.Length; i++) e[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            t = new L2Table(offset, e);
        }
        finally { ArrayPool<byte>.Shared.Return(raw); }
        _l2Cache[offset] = t;
        return t;
    }

    private void WriteL2(L2Table t)
    {
        var raw = ArrayPool<byte>.Shared.Rent(_cs);
        try
        {
            for (int i = 0; i < t.Entries.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), t.Entries[i]);
            WriteAt(t.Offset, raw.AsSpan(0, _cs));
        }
        finally { ArrayPool<byte>.Shared.Return(raw); }
        t.Dirty = false;
    }

    /// <summary>Between requests: keeps the metadata caches bounded.</summary>
    private void TrimCaches()
    {
        long bytes = ((long)_l2Cache.Count + _refBlocks.Count) * _cs;
        if (bytes <= CacheLimitBytes) return;
        if (_writable) FlushMetadata();
        _l2Cache.Clear();
        _refBlocks.Clear();
    }

    /// <summary>The L2 entry for guest cluster <paramref name="guest"/> in the tree of <paramref name="l1"/> (0 = unallocated).</summary>
    private ulong LookupEntry(ulong[] l1, long guest)
    {
        long l1i = guest >> (_clusterBits + _l2Bits);
        if (l1i >= l1.LongLength) return 0;
        ulong le = l1[l1i];
        if ((le & Qcow2Entry.L1Reserved) != 0)
            throw new ImageFormatException(FileName, $"L1 entry {l1i} = 0x{le:X16} has reserved bits set (image is corrupt)");
        long off = (long)(le & Qcow2Entry.OffsetMask);
        if (off == 0) return 0;
        ulong e = GetL2(off).Entries[(guest >> _clusterBits) & (_l2Entries - 1)];
        if ((e & Qcow2Entry.Compressed) == 0 && (e & Qcow2Entry.L2Reserved) != 0)
            throw new ImageFormatException(FileName, $"L2 entry for guest offset 0x{guest:X} = 0x{e:X16} has reserved bits set (image is corrupt)");
        return e;
    }

    // ---- reading -----------------------------------------------------------------------------------------------

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        TrimCaches();
        ReadTree(_l1, offset, buffer, _h.Size);
    }

    /// <summary>Reads guest bytes through the tree of <paramref name="l1"/>; host-contiguous runs become one read.</summary>
    private void ReadTree(ulong[] l1, long offset, Span<byte> buffer, long diskSize)
    {
        int pos = 0;
        while (pos < buffer.Length)
        {
            long g = offset + pos;
            int intra = (int)(g & (_cs - 1));
            int n = Math.Min(_cs - intra, buffer.Length - pos);
            ulong e = LookupEntry(l1, g);
            var dst = buffer.Slice(pos, n);
            if ((e & Qcow2Entry.Compressed) != 0)
            {
                ReadCompressed(e, _compressedBuffer);
                _compressedBuffer.AsSpan(intra, n).CopyTo(dst);
            }
            else if ((e & Qcow2Entry.Zero) != 0)
                dst.Clear();
            else if ((e & Qcow2Entry.OffsetMask) != 0)
            {
                long host = DataOffset(e, g) + intra;
                // Extend over following clusters that are contiguous on the host.
                while (pos + n < buffer.Length)
                {
                    long ng = offset + pos + n;
                    ulong ne = LookupEntry(l1, ng);
                    if ((ne & (Qcow2Entry.Compressed | Qcow2Entry.Zero)) != 0 || (ne & Qcow2Entry.OffsetMask) == 0 ||
                        DataOffset(ne, ng) != host + n) break;
                    n += Math.Min(_cs, buffer.Length - pos - n);
                }
                ReadAt(host, buffer.Slice(pos, n));
            }
            else
                ReadUnallocated(g, dst, diskSize);
            pos += n;
        }
    }

    private long DataOffset(ulong e, long guest)
    {
        long host = (long)(e & Qcow2Entry.OffsetMask);
        if ((host & (_cs - 1)) != 0)
            throw new ImageFormatException(FileName, $"data cluster for guest offset 0x{guest:X} at host 0x{host:X} is not cluster-aligned (image is corrupt)");
        return host;
    }

    /// <summary>An unallocated cluster: the backing image, but only inside the tree's own disk (a VM-state read past it reads zeroes).</summary>
    private void ReadUnallocated(long guest, Span<byte> dst, long diskSize)
    {
        if (guest >= diskSize) dst.Clear();
        else ReadBacking(_backing, guest, dst);
    }

    /// <summary>
    /// Inflates one compressed cluster (qcow2.txt "Compressed Clusters Descriptor"): the byte range is bounded by the
    /// descriptor (at most 2 clusters), clamped at the end of the file, and must produce exactly one cluster.
    /// </summary>
    private void ReadCompressed(ulong e, byte[] cluster)
    {
        if (e == _compressedKey) return;
        int shift = 62 - (_clusterBits - 8);
        long coffset = (long)(e & ((1UL << shift) - 1));
        long sectors = (long)((e >> shift) & ((1UL << (_clusterBits - 8)) - 1)) + 1;
        long csize = sectors * 512 - (coffset & 511);
        long avail = Math.Max(0, _file.Length - coffset);
        if (coffset >= Qcow2Header.MaxOffset || avail == 0)
            throw new ImageFormatException(FileName, $"compressed cluster at host 0x{coffset:X} lies outside the file (image is corrupt)");
        var raw = ArrayPool<byte>.Shared.Rent((int)csize);
        try
        {
            int len = (int)Math.Min(csize, avail);
            ReadAt(coffset, raw.AsSpan(0, len));
            using var ms = new MemoryStream(raw, 0, len, writable: false);
            using var z = new System.IO.Compression.DeflateStream(ms, System.IO.Compression.CompressionMode.Decompress);
            int got;
            try { got = z.ReadAtLeast(cluster, cluster.Length, throwOnEndOfStream: false); }
            catch (InvalidDataException ex)
            {
                _compressedKey = ulong.MaxValue;
                throw new ImageFormatException(FileName, $"compressed cluster at host 0x{coffset:X} does not inflate: {ex.Message}");
            }
            if (got != cluster.Length)
            {
                _compressedKey = ulong.MaxValue;
                throw new ImageFormatException(FileName, $"compressed cluster at host 0x{coffset:X} inflates to {got} bytes, not {cluster.Length}");
            }
        }
        finally { ArrayPool<byte>.Shared.Return(raw); }
        _compressedKey = e;
    }

    /// <summary>Host clusters a compressed descriptor touches (the ranges refcounts count; QEMU's qcow2_free_any_cluster).</summary>
    private (long First, long Last) CompressedClusters(ulong e)
    {
        int shift = 62 - (_clusterBits - 8);
        long coffset = (long)(e & ((1UL << shift) - 1));
        long sectors = (long)((e >> shift) & ((1UL << (_clusterBits - 8)) - 1)) + 1;
        long start = coffset & ~511L;
        return (start >> _clusterBits, (start + sectors * 512 - 1) >> _clusterBits);
    }

    protected override Extent BlockStatusCore(long offset, long limit)
    {
        TrimCaches();
        ExtentKind kind = default;
        long host = -1, len = 0;
        while (len < limit)
        {
            long g = offset + len;
            ulong e = LookupEntry(_l1, g);
            ExtentKind k; long h = -1;
            if ((e & Qcow2Entry.Compressed) != 0) k = ExtentKind.Data;
            else if ((e & Qcow2Entry.Zero) != 0) k = ExtentKind.Zero;
            else if ((e & Qcow2Entry.OffsetMask) != 0) { k = ExtentKind.Data; h = DataOffset(e, g) + (g & (_cs - 1)); }
            else k = ExtentKind.Unallocated;
            if (len == 0) { kind = k; host = h; }
            else if (k != kind || (kind == ExtentKind.Data && (host < 0 || h != host + len))) break;
            len += Math.Min(_cs - (g & (_cs - 1)), limit - len);
        }
        return kind == ExtentKind.Data
            ? new Extent(offset, len, kind, FileName, host)
            : new Extent(offset, len, kind);
    }

    // ---- writing -----------------------------------------------------------------------------------------------

    protected override string? WriteRefusal =>
        !_writable ? "image is open read-only"
        : (_h.IncompatibleFeatures & Qcow2Header.IncompatCorrupt) != 0 ? "image is marked corrupt; repair it with check -r all before writing"
        : null;

    protected override void WriteCore(long offset, ReadOnlySpan<byte> data)
    {
        TrimCaches();
        WriteTree(offset, data);
        WriteThroughMetadata();
    }

    /// <summary>Writes through the active tree with no disk-size check (the VM state lives past the disk's end).</summary>
    private void WriteTree(long offset, ReadOnlySpan<byte> data)
    {
        int pos = 0;
        byte[]? scratch = null;
        try
        {
            while (pos < data.Length)
            {
                long g = offset + pos;
                int intra = (int)(g & (_cs - 1));
                int n = Math.Min(_cs - intra, data.Length - pos);
                var (table, idx) = GetL2ForWrite(g);
                ulong e = table.Entries[idx];
                bool normal = (e & Qcow2Entry.Compressed) == 0 && (e & Qcow2Entry.OffsetMask) != 0;
                if (normal && (e & Qcow2Entry.Copied) != 0 && (e & Qcow2Entry.Zero) == 0)
                {
                    // Owned cluster (refcount 1): write in place.
                    long host = DataOffset(e, g) + intra;
                    WriteAt(host, data.Slice(pos, n));
                    pos += n;
                    continue;
                }
                long target;
                bool reuse = normal && (e & Qcow2Entry.Copied) != 0; // owned zero cluster: keep its storage
                target = reuse ? DataOffset(e, g) : AllocateClusters(1) << _clusterBits;
                if (n == _cs)
                    WriteAt(target, data.Slice(pos, n));
                else
                {
                    scratch ??= ArrayPool<byte>.Shared.Rent(_cs);
                    var cluster = scratch.AsSpan(0, _cs);
                    ReadClusterView(e, g - intra, cluster);
                    data.Slice(pos, n).CopyTo(cluster[intra..]);
                    WriteAt(target, cluster);
                }
                table.Entries[idx] = (ulong)target | Qcow2Entry.Copied;
                table.Dirty = true;
                if (!reuse) ReleaseEntry(e);
                pos += n;
            }
        }
        finally { if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch); }
    }

    /// <summary>The current content of one guest cluster as this layer shows it (for read-modify-write).</summary>
    private void ReadClusterView(ulong e, long guestCluster, Span<byte> cluster)
    {
        if ((e & Qcow2Entry.Compressed) != 0) { ReadCompressed(e, _compressedBuffer); _compressedBuffer.CopyTo(cluster); }
        else if ((e & Qcow2Entry.Zero) != 0) cluster.Clear();
        else if ((e & Qcow2Entry.OffsetMask) != 0) ReadAt(DataOffset(e, guestCluster), cluster);
        else ReadUnallocated(guestCluster, cluster, _h.Size);
    }

    /// <summary>Drops this tree's reference to what <paramref name="e"/> points at (applied at the next flush).</summary>
    private void ReleaseEntry(ulong e)
    {
        if ((e & Qcow2Entry.Compressed) != 0)
        {
            var (first, last) = CompressedClusters(e);
            for (long c = first; c <= last; c++) FreeLater(c);
            if (e == _compressedKey) _compressedKey = ulong.MaxValue;
        }
        else if ((e & Qcow2Entry.OffsetMask) != 0)
            FreeLater((long)(e & Qcow2Entry.OffsetMask) >> _clusterBits);
    }

    /// <summary>
    /// The active L2 table for guest offset <paramref name="guest"/>, owned by the active tree: allocated when missing,
    /// copied when shared with a snapshot (L1 entry without the copied flag), the L1 grown when too short.
    /// </summary>
    private (L2Table Table, int Index) GetL2ForWrite(long guest)
    {
        long l1i = guest >> (_clusterBits + _l2Bits);
        int idx = (int)((guest >> _clusterBits) & (_l2Entries - 1));
        if (l1i >= _l1.LongLength) GrowL1(l1i + 1, exact: false);
        ulong le = _l1[l1i];
        if ((le & Qcow2Entry.L1Reserved) != 0)
            throw new ImageFormatException(FileName, $"L1 entry {l1i} = 0x{le:X16} has reserved bits set (image is corrupt)");
        long off = (long)(le & Qcow2Entry.OffsetMask);
        if (off != 0 && (le & Qcow2Entry.Copied) != 0) return (GetL2(off), idx);
        ulong[] entries;
        if (off == 0) entries = new ulong[_l2Entries];
        else
        {
            entries = (ulong[])GetL2(off).Entries.Clone();
            FreeLater(off >> _clusterBits);
        }
        long newOff = AllocateClusters(1) << _clusterBits;
        var t = new L2Table(newOff, entries) { Dirty = true };
        _l2Cache[newOff] = t;
        _l1[l1i] = (ulong)newOff | Qcow2Entry.Copied;
        _l1Dirty = true;
        return (t, idx);
    }

    /// <summary>Grows the active L1 table to at least <paramref name="minEntries"/> (new clusters, header switched last).</summary>
    private void GrowL1(long minEntries, bool exact)
    {
        long max = Qcow2Header.MaxL1Entries;
        if (minEntries > max)
            throw new ImageFormatException(FileName, $"guest offset needs {minEntries} L1 entries, more than {max}");
        long size = exact ? minEntries : Math.Min(max, Math.Max(minEntries, _l1.LongLength + _l1.LongLength / 2));
        FlushMetadata();
        long clusters = (size * 8 + _cs - 1) >> _clusterBits;
        var nl1 = new ulong[size];
        Array.Copy(_l1, nl1, _l1.LongLength);
        long at = AllocateClusters(clusters) << _clusterBits;
        WriteTable(at, nl1);
        FlushMetadata();
        long oldOffset = _h.L1TableOffset, oldClusters = (_l1.LongLength * 8 + _cs - 1) >> _clusterBits;
        _h.L1TableOffset = at;
        _h.L1Size = (uint)size;
        WriteHeader();
        _l1 = nl1;
        _l1Dirty = false;
        if (_l1.Length > 0 && oldOffset != 0)
            for (long c = 0; c < oldClusters; c++) FreeLater((oldOffset >> _clusterBits) + c);
        FlushMetadata();
    }

    protected override void WriteZeroesCore(long offset, long length)
    {
        TrimCaches();
        ZeroRange(offset, length, discard: false);
        WriteThroughMetadata();
    }

    protected override void DiscardCore(long offset, long length)
    {
        TrimCaches();
        ZeroRange(offset, length, discard: true);
        WriteThroughMetadata();
    }

    /// <summary>
    /// Whole clusters become zero clusters (v3) or unallocated (discard, or v2 without backing); partial clusters
    /// get zero bytes written, so afterwards the range reads as zeroes (or as the backing image for a discard).
    /// </summary>
    private void ZeroRange(long offset, long length, bool discard)
    {
        long end = offset + length;
        long pos = offset;
        while (pos < end)
        {
            int intra = (int)(pos & (_cs - 1));
            long n = Math.Min(_cs - intra, end - pos);
            if (n < _cs)
            {
                WriteZeroBytes(pos, (int)n);
                pos += n;
                continue;
            }
            bool unallocate = discard || (_h.Version == 2 && _backing is null);
            if (!unallocate && _h.Version == 2)
            {
                WriteZeroBytes(pos, _cs); // v2 has no zero flag; the backing image must be hidden by real zeroes
                pos += n;
                continue;
            }
            long l1i = pos >> (_clusterBits + _l2Bits);
            bool noTable = l1i >= _l1.LongLength || (_l1[l1i] & Qcow2Entry.OffsetMask) == 0;
            if (noTable && (unallocate || _backing is null))
            {
                pos += n; // no L2 table: already unallocated, and with no backing that reads as zeroes
                continue;
            }
            var (table, idx) = GetL2ForWrite(pos);
            ulong e = table.Entries[idx];
            ulong ne = unallocate ? 0 : Qcow2Entry.Zero;
            if (e != ne)
            {
                table.Entries[idx] = ne;
                table.Dirty = true;
                ReleaseEntry(e);
            }
            pos += n;
        }
    }

    private void WriteZeroBytes(long offset, int length)
    {
        var z = ArrayPool<byte>.Shared.Rent(_cs);
        try
        {
            Array.Clear(z, 0, _cs);
            WriteTree(offset, z.AsSpan(0, length));
        }
        finally { ArrayPool<byte>.Shared.Return(z); }
    }

    protected override void FlushCore()
    {
        if (!_writable) return;
        FlushMetadata();
        Sync();
    }

    /// <summary>
    /// The end of every request: what it allocated reaches the host file system now, in the order a reader needs —
    /// data (already written), refcount increments, L2 tables, L1 — without an fsync (QEMU's cache=writeback model,
    /// docs/durability.md). So a killed process loses no completed write; at worst the decrements still held for the
    /// next flush are lost, which check reports as leaked clusters.
    /// </summary>
    private void WriteThroughMetadata()
    {
        WriteRefcountStructures();
        foreach (var t in _l2Cache.Values)
            if (t.Dirty) WriteL2(t);
        if (_l1Dirty)
        {
            WriteTable(_h.L1TableOffset, _l1);
            _l1Dirty = false;
        }
    }

    /// <summary>
    /// Writes cached metadata back in crash-safe order: refcount increments (with the data written so far),
    /// L2 tables, L1, then the deferred refcount decrements.
    /// </summary>
    private void FlushMetadata()
    {
        if (!_writable) return;
        WriteRefcountStructures();
        Sync();
        bool any = false;
        foreach (var t in _l2Cache.Values)
            if (t.Dirty) { WriteL2(t); any = true; }
        if (any) Sync();
        if (_l1Dirty)
        {
            WriteTable(_h.L1TableOffset, _l1);
            _l1Dirty = false;
            Sync();
        }
        if (_pendingFree.Count > 0)
        {
            ApplyPendingFrees();
            WriteRefcountStructures();
            Sync();
        }
    }

    // ---- user metadata -----------------------------------------------------------------------------------------

    public IReadOnlyList<KeyValuePair<string, byte[]>> UserMetadata => _metadata;

    public void SetUserMetadata(string key, ReadOnlySpan<byte> value)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        Qcow2UserMetadata.ValidateKey(key);
        var list = new List<KeyValuePair<string, byte[]>>(_metadata);
        int i = list.FindIndex(kv => kv.Key == key);
        if (i >= 0) list[i] = new(key, value.ToArray());
        else list.Add(new(key, value.ToArray()));
        ApplyMetadata(list);
    }

    public bool RemoveUserMetadata(string key)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        var list = new List<KeyValuePair<string, byte[]>>(_metadata);
        int i = list.FindIndex(kv => kv.Key == key);
        if (i < 0) return false;
        list.RemoveAt(i);
        ApplyMetadata(list);
        return true;
    }

    private void ApplyMetadata(List<KeyValuePair<string, byte[]>> list)
    {
        var old = _h.Find(Qcow2UserMetadata.ExtensionType);
        _h.Put(Qcow2UserMetadata.ExtensionType, list.Count == 0 ? null : Qcow2UserMetadata.Serialize(list));
        try { _h.ToBytes(); }
        catch (ImageFormatException)
        {
            _h.Put(Qcow2UserMetadata.ExtensionType, old?.Data);
            throw new ImageFormatException(FileName, $"user metadata too large for this cluster size ({_cs} bytes: header, extensions, metadata and backing name must fit in cluster 0)");
        }
        WriteHeader();
        _metadata = list;
    }

    protected override void Close()
    {
        try
        {
            if (_writable) { FlushMetadata(); Sync(); }
        }
        finally
        {
            _backing?.Dispose();
            _file.Dispose();
        }
    }
}
