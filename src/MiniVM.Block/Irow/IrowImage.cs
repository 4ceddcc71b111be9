using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// An iROW image (specs/irow.md): a meta file, and per state a btmp (bitmap + VM state) and an irvd (sparse raw).
/// Byte-compatible with the original patch's files; these of its weaknesses (§9) are fixed:
/// <list type="bullet">
/// <item>W1/W2 crash ordering: a write sets its bits in memory only after the data write returned, and the request
/// ends by writing the changed bitmap pages to the btmp (no fsync: QEMU's cache=writeback model, docs/durability.md).
/// A killed process therefore loses no completed write; a host crash loses at most what the guest has not flushed.
/// <see cref="Flush"/> fdatasyncs the irvd, then the btmp, so a completed flush covers data, then bitmap.</item>
/// <item>W3/W4 atomic meta: every meta change is write-temp + fsync + rename + fsync(dir) (<see cref="IrowMetaFile"/>);
/// snapshot operations make new or reset files durable before the meta commit points at them.</item>
/// <item>W5/W6/W32 no global or stale state: everything is per image; all derived state (chain, owner map) is
/// rebuilt after every tree change.</item>
/// <item>W7/W12/W16/W24-W27 hostile input: the tree is validated on open (fathers, cycles, one live leaf current,
/// depth ≤ 1024), strings must be NUL-terminated UTF-8, counts bounded by the file length, counters recomputed.</item>
/// <item>W8/W22 copy-up merges resolved data and guest bytes in one per-image cluster buffer (zero-filled sources).</item>
/// <item>W17/W18 sparse irvds, no preallocation; goto and file reuse truncate the discarded irvd; delete merges a
/// snapshot into its only child or frees it (§6.4 merge-down), so space comes back.</item>
/// <item>Reviewer's O(1) point (§8.1): an owner map (cluster → owning ancestor) makes read cost independent of depth.</item>
/// <item>W28/W30/W31 ancestors are opened read-only; stored names are plain names next to the meta file unless
/// <see cref="ImageOpenContext.AllowUnsafePaths"/>; the backing format (W29) is checked against the probe at create.</item>
/// </list>
/// Clusters past a read-only open's reach never get written: copy_on_demand is off for read-only opens.
/// </summary>
public sealed partial class IrowImage : BlockDriver, ISnapshotTree, IImageCheck, IBackingImage, IImageInfo, IStateHistory
{
    private const int CurrentSource = -1;

    private readonly string _metaPath;
    private readonly bool _allowUnsafePaths;
    private readonly ImageFormats _registry;
    private readonly int _clusterBits;
    // The geometry follows the meta header: a resize (IrowImage.Resize.cs) changes all three.
    private int _bitmapSize;
    private long _totalClusters;
    private IrowTree _tree;

    private SafeFileHandle _curBtmp;
    private SafeFileHandle _curIrvd;
    private string _curBtmpPath;
    private string _curIrvdPath;
    private long _curIrvdLength;
    private IrowBitmap _curBitmap;
    /// <summary>Bitmap pages were written to the btmp since its last fdatasync.</summary>
    private bool _btmpUnsynced;
    /// <summary>A copy-up since the last bitmap write-through wrote bytes of an older state into the irvd.</summary>
    private bool _copiedOlderData;

    private IrowLayer[] _chain = [];
    private IrowOwnerMap _owners;

    private readonly IBlockDriver? _backing;
    private readonly long _backingSize;
    private byte[]? _clusterBuffer;

    private IrowImage(string metaPath, IrowTree tree, ImageOpenContext context)
    {
        _metaPath = metaPath;
        _tree = tree;
        _allowUnsafePaths = context.AllowUnsafePaths;
        _registry = context.Registry;
        IsReadOnly = context.ReadOnly;
        var h = tree.Header;
        _clusterBits = h.ClusterBits;
        ApplyGeometry();
        _owners = new IrowOwnerMap(_totalClusters);
        _curBitmap = new IrowBitmap(_totalClusters);
        _curBtmp = null!;
        _curIrvd = null!;
        _curBtmpPath = _curIrvdPath = "";
        try
        {
            // Every stored name must be safe before anything is opened, not only the current chain's (§9 W30).
            foreach (var r in tree.Records)
            {
                Resolve(r.BtmpFile, "btmp file");
                Resolve(r.IrvdFile, "irvd file");
            }
            OpenCurrent();
            BuildChain();
            if (h.BackingFile.Length != 0 && !context.NoBacking)
            {
                _backing = context.OpenBacking(metaPath, h.BackingFile, null);
                _backingSize = _backing.Size;
            }
        }
        catch
        {
            CloseHandles();
            throw;
        }
    }

    /// <summary>Opens an existing image; the backing image (if any) is opened through <paramref name="context"/>.</summary>
    public static IrowImage Open(string metaPath, ImageOpenContext context)
    {
        // The meta file is locked first, as the image's representative: it names every other file, and a second
        // writer must be refused before it reads it or removes a temp meta file a writer may be writing.
        var metaLock = HostFile.OpenHandle(metaPath, write: !context.ReadOnly);
        try
        {
            var tree = IrowMetaFile.Read(metaPath);
            if (!context.ReadOnly)
            {
                // A leftover temp meta is debris of an interrupted replace; the meta file itself is whole.
                try { File.Delete(IrowMetaFile.TempPathFor(metaPath)); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            var image = new IrowImage(metaPath, tree, context);
            image._metaLock = metaLock;
            return image;
        }
        catch
        {
            metaLock.Dispose();
            throw;
        }
    }

    /// <summary>The open meta file, held only for its lock; replaced, still locked, on every meta replace.</summary>
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _metaLock;

    public override string FormatName => "irow";
    public override string FileName => _metaPath;
    public override long Size => _tree.Header.DiskSize;
    public override bool IsReadOnly { get; }
    public long ClusterSize => 1L << _clusterBits;
    public bool CopyOnDemand => _tree.Header.CopyOnDemand;

    public string? BackingFileName => _tree.Header.BackingFile.Length == 0 ? null : _tree.Header.BackingFile;

    /// <summary>iROW stores no backing format (irow.md §2.2, §9 W29); the backing image is probed.</summary>
    public string? BackingFormat => null;

    public IBlockDriver? Backing => _backing;

    /// <summary>Number of ancestor states below the current state.</summary>
    public int ChainDepth => _chain.Length;

    /// <summary>Takes the disk size and the bitmap geometry from the meta header in memory.</summary>
    private void ApplyGeometry()
    {
        _bitmapSize = _tree.Header.BitmapSize;
        _totalClusters = _tree.Header.TotalClusters;
    }

    private string Resolve(string storedName, string what) => ImagePaths.ResolveStoredName(_metaPath, storedName, _allowUnsafePaths, what);

    private void OpenCurrent()
    {
        var cur = _tree.Current;
        _curBtmpPath = Resolve(cur.BtmpFile, "btmp file");
        _curIrvdPath = Resolve(cur.IrvdFile, "irvd file");
        _curBtmp = HostFile.OpenHandle(_curBtmpPath, !IsReadOnly);
        _curIrvd = HostFile.OpenHandle(_curIrvdPath, !IsReadOnly);
        _curIrvdLength = RandomAccess.GetLength(_curIrvd);
        _curBitmap = new IrowBitmap(_totalClusters);
        _curBitmap.Load(_curBtmp, _curBtmpPath);
    }

    /// <summary>Opens the ancestors root-first and rebuilds the owner map from their bitmaps (irow.md §5.4).</summary>
    private void BuildChain()
    {
        var ancestors = _tree.AncestorsOfCurrent(); // nearest first
        var old = new Dictionary<string, IrowLayer>(StringComparer.Ordinal);
        foreach (var l in _chain) old[l.IrvdPath] = l;
        var layers = new IrowLayer[ancestors.Count];
        var owners = new IrowOwnerMap(_totalClusters);
        var scratch = new byte[Math.Clamp(_bitmapSize, 1, 1 << 20)];
        try
        {
            for (int i = 0; i < layers.Length; i++)
            {
                var rec = _tree.Records[ancestors[ancestors.Count - 1 - i]];
                string btmpPath = Resolve(rec.BtmpFile, "btmp file");
                string irvdPath = Resolve(rec.IrvdFile, "irvd file");
                SafeFileHandle irvd;
                if (old.Remove(irvdPath, out var reuse)) irvd = reuse.Irvd;
                else irvd = HostFile.OpenHandle(irvdPath, write: false);
                layers[i] = new IrowLayer(rec, irvd, irvdPath, btmpPath);
                using var btmp = HostFile.OpenHandle(btmpPath, write: false);
                owners.ApplyFile(btmp, btmpPath, _bitmapSize, i + 1, scratch);
            }
        }
        catch
        {
            foreach (var l in layers) if (l is not null && !old.ContainsKey(l.IrvdPath) && !IsInChain(l.Irvd)) l.Irvd.Dispose();
            throw;
        }
        foreach (var l in old.Values) if (!ReferenceEquals(l.Irvd, _curIrvd)) l.Irvd.Dispose();
        _chain = layers;
        _owners = owners;
    }

    private bool IsInChain(SafeFileHandle h)
    {
        foreach (var l in _chain) if (ReferenceEquals(l.Irvd, h)) return true;
        return false;
    }

    // ---- I/O -------------------------------------------------------------------------------------------------

    /// <summary>Set when a failed snapshot operation could not even restore the last committed state.</summary>
    private string? _unusable;

    protected override void CheckUsable()
    {
        base.CheckUsable();
        if (_unusable is not null) throw new ImageFormatException(_metaPath, $"image is unusable until reopened: {_unusable}");
    }

    private byte[] ClusterBuffer => _clusterBuffer ??= new byte[ClusterSize];

    private int SourceOf(long cluster) => _curBitmap.IsSet(cluster) ? CurrentSource : _owners.Get(cluster);

    private long ClusterEnd(long cluster) => Math.Min((cluster + 1) << _clusterBits, Size);

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        ReadResolved(offset, buffer);
        if (_tree.Header.CopyOnDemand && !IsReadOnly && buffer.Length > 0)
        {
            CopyOnRead(offset, buffer.Length);
            WriteThroughBits();
        }
    }

    /// <summary>Reads through the chain, one host read per run of clusters with the same source.</summary>
    private void ReadResolved(long offset, Span<byte> buffer)
    {
        long end = offset + buffer.Length;
        long pos = offset;
        while (pos < end)
        {
            long c = pos >> _clusterBits;
            int src = SourceOf(c);
            long runEnd = Math.Min((c + 1) << _clusterBits, end);
            while (runEnd < end)
            {
                long c2 = runEnd >> _clusterBits;
                if (SourceOf(c2) != src) break;
                runEnd = Math.Min((c2 + 1) << _clusterBits, end);
            }
            ReadSource(src, pos, buffer.Slice((int)(pos - offset), (int)(runEnd - pos)));
            pos = runEnd;
        }
    }

    private void ReadSource(int source, long offset, Span<byte> dest)
    {
        // irvd files may be shorter than the disk (§2.6); below the root comes the backing image (§10.1).
        if (source == CurrentSource) ReadHost(_curIrvd, offset, dest);
        else if (source > 0) ReadHost(_chain[source - 1].Irvd, offset, dest);
        else ReadBacking(_backing, offset, dest);
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length > 0) RedirectWrite(offset, data);
        WriteThroughBits();
    }

    /// <summary>
    /// Redirect-on-write (irow.md §5.6): partial edge clusters not yet in the current state are copied up merged
    /// with the guest bytes; the rest is written in place. Bits are set only after every write returned (§9 W2).
    /// </summary>
    private void RedirectWrite(long offset, ReadOnlySpan<byte> data)
    {
        long end = offset + data.Length;
        long first = offset >> _clusterBits;
        long last = (end - 1) >> _clusterBits;
        long midStart = offset, midEnd = end;
        if (NeedsCopyUp(first, offset, end))
        {
            CopyUp(first, offset, data);
            midStart = ClusterEnd(first);
        }
        if (last != first && NeedsCopyUp(last, offset, end))
        {
            CopyUp(last, offset, data);
            midEnd = last << _clusterBits;
        }
        if (midStart < midEnd)
            RandomAccess.Write(_curIrvd, data.Slice((int)(midStart - offset), (int)(midEnd - midStart)), midStart);
        if (end > _curIrvdLength) _curIrvdLength = end;
        for (long c = first; c <= last; c++) _curBitmap.Set(c);
    }

    private bool NeedsCopyUp(long cluster, long offset, long end)
    {
        if (_curBitmap.IsSet(cluster)) return false;
        return offset > cluster << _clusterBits || end < ClusterEnd(cluster);
    }

    private bool ReadsZeroBelowCurrent(long cluster, int owner) =>
        owner == 0 && (_backing is null || cluster << _clusterBits >= _backingSize);

    private void CopyUp(long cluster, long offset, ReadOnlySpan<byte> data)
    {
        long cs = cluster << _clusterBits, ce = ClusterEnd(cluster);
        long ws = Math.Max(cs, offset), we = Math.Min(ce, offset + data.Length);
        var piece = data.Slice((int)(ws - offset), (int)(we - ws));
        int owner = _owners.Get(cluster);
        if (ReadsZeroBelowCurrent(cluster, owner) && IrvdRangeIsHole(cs, ce))
        {
            // The rest of the cluster already reads as zero from the sparse irvd: write only the guest bytes.
            RandomAccess.Write(_curIrvd, piece, ws);
            if (we > _curIrvdLength) _curIrvdLength = we;
            return;
        }
        var buf = ClusterBuffer.AsSpan(0, (int)(ce - cs));
        ReadSource(owner, cs, buf);
        piece.CopyTo(buf[(int)(ws - cs)..]);
        RandomAccess.Write(_curIrvd, buf, cs);
        if (ce > _curIrvdLength) _curIrvdLength = ce;
        _copiedOlderData = true;
    }

    /// <summary>True when the current irvd holds no data in [start, end) (stale data may hide behind clear bits, §2.6).</summary>
    private bool IrvdRangeIsHole(long start, long end)
    {
        if (start >= _curIrvdLength) return true;
        return HostFile.TryGetAllocation(_curIrvd, start, _curIrvdLength, out bool isData, out long runEnd)
               && !isData && runEnd >= Math.Min(end, _curIrvdLength);
    }

    /// <summary>copy_on_demand (irow.md §5.7): bring clusters that come from older states or the backing file into the current state.</summary>
    private void CopyOnRead(long offset, long length)
    {
        long first = offset >> _clusterBits, last = (offset + length - 1) >> _clusterBits;
        for (long c = first; c <= last; c++)
        {
            if (_curBitmap.IsSet(c)) continue;
            int owner = _owners.Get(c);
            if (ReadsZeroBelowCurrent(c, owner)) continue; // nothing to copy: skip zero clusters (§9 W21)
            long cs = c << _clusterBits, ce = ClusterEnd(c);
            var buf = ClusterBuffer.AsSpan(0, (int)(ce - cs));
            ReadSource(owner, cs, buf);
            RandomAccess.Write(_curIrvd, buf, cs);
            if (ce > _curIrvdLength) _curIrvdLength = ce;
            _copiedOlderData = true;
            _curBitmap.Set(c);
        }
    }

    /// <summary>
    /// The end of every request that set bits: the changed bitmap pages go to the host file system now, after the
    /// data writes they describe have returned, so a process death cannot lose a completed write (docs/durability.md).
    /// </summary>
    private void WriteThroughBits()
    {
        if (!_curBitmap.HasDirtyPages) return;
        if (_copiedOlderData)
        {
            // A copied-up cluster holds bytes the guest did not write (an older state's): its bit must not reach the
            // disk before them, or a power failure would show zeroes there (QEMU orders its COW the same way).
            HostFile.SyncData(_curIrvd, _curIrvdPath);
            _copiedOlderData = false;
        }
        _curBitmap.WriteDirtyPages(_curBtmp);
        _btmpUnsynced = true;
    }

    /// <summary>Data, then the bits that describe it (irow.md §9 W1). The meta is always committed synchronously.</summary>
    protected override void FlushCore()
    {
        if (IsReadOnly) return;
        HostFile.SyncData(_curIrvd, _curIrvdPath);
        WriteThroughBits();
        if (_btmpUnsynced)
        {
            HostFile.SyncData(_curBtmp, _curBtmpPath);
            _btmpUnsynced = false;
        }
    }

    protected override Extent BlockStatusCore(long offset, long length)
    {
        long end = offset + length;
        long c = offset >> _clusterBits;
        int src = SourceOf(c);
        long runEnd = Math.Min((c + 1) << _clusterBits, end);
        if (src == 0 && runEnd < end)
            runEnd = Math.Min(UnallocatedRunEnd(c + 1, ((end - 1) >> _clusterBits) + 1) << _clusterBits, end);
        while (runEnd < end && SourceOf(runEnd >> _clusterBits) == src)
            runEnd = Math.Min(((runEnd >> _clusterBits) + 1) << _clusterBits, end);
        if (src == 0) return new Extent(offset, runEnd - offset, ExtentKind.Unallocated);
        var (handle, file) = src == CurrentSource ? (_curIrvd, _curIrvdPath) : (_chain[src - 1].Irvd, _chain[src - 1].IrvdPath);
        // Allocated clusters over an irvd hole (zeroed or discarded ranges) read as zeroes.
        long fileLength = src == CurrentSource ? _curIrvdLength : RandomAccess.GetLength(handle);
        if (offset >= fileLength) return new Extent(offset, runEnd - offset, ExtentKind.Zero);
        if (HostFile.TryGetAllocation(handle, offset, fileLength, out bool isData, out long hostRunEnd) && hostRunEnd > offset)
        {
            long zeroEnd = hostRunEnd >= fileLength ? runEnd : hostRunEnd; // a hole up to EOF covers the rest too
            long n = Math.Min(runEnd, isData ? hostRunEnd : zeroEnd) - offset;
            return isData ? new Extent(offset, n, ExtentKind.Data, file, offset) : new Extent(offset, n, ExtentKind.Zero);
        }
        return new Extent(offset, runEnd - offset, ExtentKind.Data, file, offset);
    }

    /// <summary>
    /// The first cluster in [<paramref name="c"/>, <paramref name="endCluster"/>) that some state holds, skipping
    /// bitmap pages and owner-map chunks that are empty without looking at their clusters one by one, so mapping an
    /// empty 4 TiB image takes a few hundred page checks (issue 11 item 8).
    /// </summary>
    private long UnallocatedRunEnd(long c, long endCluster)
    {
        const long PageClusters = IrowBitmap.PageSize * 8L;
        while (c < endCluster)
        {
            long next = _curBitmap.SkipZeroPages(c, endCluster); // the current state holds nothing in [c, next)
            while (c < next)
            {
                if (_owners.ChunkIsEmpty(c)) { c = Math.Min(next, (c / IrowOwnerMap.ChunkClusters + 1) * IrowOwnerMap.ChunkClusters); continue; }
                if (_owners.Get(c) != 0) return c;
                c++;
            }
            long pageEnd = Math.Min((c / PageClusters + 1) * PageClusters, endCluster);
            for (; c < pageEnd; c++)
                if (SourceOf(c) != 0) return c;
        }
        return endCluster;
    }

    /// <summary>Reads as zeroes afterwards (a discard does the same). iROW has no "zero" bit, so a zeroed cluster is a set bit over an irvd hole.</summary>
    protected override void WriteZeroesCore(long offset, long length)
    {
        if (length > 0) ZeroRange(offset, offset + length);
        WriteThroughBits();
    }

    private void ZeroRange(long start, long end)
    {
        long pos = start;
        while (pos < end)
        {
            long c = pos >> _clusterBits;
            long cs = c << _clusterBits, ce = ClusterEnd(c);
            bool alreadyZero = !_curBitmap.IsSet(c) && ReadsZeroBelowCurrent(c, _owners.Get(c));
            if (pos > cs || end < ce)
            {
                long pe = Math.Min(ce, end);
                // Not the cluster buffer: copy-up uses it as scratch while reading these zeroes.
                if (!alreadyZero) RedirectWrite(pos, new byte[pe - pos]);
                pos = pe;
                continue;
            }
            // A run of whole clusters that need zeroing: punch them out of the current irvd, then set their bits.
            long runStart = cs, runEnd = ce;
            if (!alreadyZero)
            {
                while (runEnd < end)
                {
                    long n = runEnd >> _clusterBits;
                    long ne = ClusterEnd(n);
                    if (ne > end || (!_curBitmap.IsSet(n) && ReadsZeroBelowCurrent(n, _owners.Get(n)))) break;
                    runEnd = ne;
                }
                if (runStart < _curIrvdLength && !HostFile.TryPunchHole(_curIrvd, runStart, Math.Min(runEnd, _curIrvdLength) - runStart))
                {
                    Span<byte> zero = ClusterBuffer;
                    zero.Clear();
                    for (long p = runStart; p < runEnd; p += zero.Length)
                        RandomAccess.Write(_curIrvd, zero[..(int)Math.Min(zero.Length, runEnd - p)], p);
                    if (runEnd > _curIrvdLength) _curIrvdLength = runEnd;
                }
                for (long k = runStart >> _clusterBits; k < (runEnd + ClusterSize - 1) >> _clusterBits; k++) _curBitmap.Set(k);
            }
            pos = runEnd;
        }
    }

    // ---- info ------------------------------------------------------------------------------------------------

    public IReadOnlyList<ExtentOwner> ExtentOwners
    {
        get
        {
            lock (Gate)
            {
                CheckUsable();
                var list = new List<ExtentOwner>(_tree.Records.Count);
                for (int i = 0; i < _tree.Records.Count; i++)
                {
                    var r = _tree.Records[i];
                    string label = i == _tree.CurrentIndex ? "current state"
                        : r.IsDeleted ? "deleted state (kept for its children)"
                        : $"{r.Name} (id {r.Id})";
                    list.Add(new ExtentOwner(Resolve(r.IrvdFile, "irvd file"), label));
                }
                return list;
            }
        }
    }

    public IReadOnlyList<ImageState> States
    {
        get
        {
            lock (Gate)
            {
                CheckUsable();
                var list = new List<ImageState>(_tree.Records.Count);
                for (int i = 0; i < _tree.Records.Count; i++)
                {
                    var r = _tree.Records[i];
                    bool current = i == _tree.CurrentIndex;
                    int father = r.IsRoot ? -1 : _tree.IndexOfBtmp(r.FatherBtmpFile);
                    list.Add(new ImageState(current ? null : r.Id, current ? IrowSnapshotRecord.CurrentName : r.Name, r.Date, r.VmStateSize,
                        current, r.IsDeleted, father == i ? -1 : father));
                }
                return list;
            }
        }
    }

    public void VisitOwnedClusters(int state, Action<long> visit)
    {
        lock (Gate)
        {
            CheckUsable();
            ArgumentOutOfRangeException.ThrowIfNegative(state);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(state, _tree.Records.Count);
            IrowBitmap bitmap;
            if (state == _tree.CurrentIndex) bitmap = _curBitmap; // may hold bits not yet written to the btmp
            else
            {
                string btmp = Resolve(_tree.Records[state].BtmpFile, "btmp file");
                bitmap = new IrowBitmap(_totalClusters);
                using var handle = File.OpenHandle(btmp);
                bitmap.LoadAll(handle, btmp);
            }
            bitmap.ForEachNonZeroPage((first, bytes) =>
            {
                var span = bytes.Span;
                for (int i = 0; i < span.Length; i++)
                {
                    if (span[i] == 0) continue;
                    for (int b = 0; b < 8; b++)
                    {
                        long c = first + i * 8L + b;
                        if ((span[i] & (1 << b)) != 0 && c < _totalClusters) visit(c);
                    }
                }
            });
        }
    }

    public IReadOnlyList<string> Files
    {
        get
        {
            lock (Gate)
            {
                var list = new List<string> { _metaPath };
                foreach (var r in _tree.Records)
                {
                    list.Add(Resolve(r.BtmpFile, "btmp file"));
                    list.Add(Resolve(r.IrvdFile, "irvd file"));
                }
                return list;
            }
        }
    }

    public long DiskUsage
    {
        get
        {
            long sum = 0;
            foreach (var f in Files) sum += HostFile.AllocatedBytes(f);
            return sum;
        }
    }

    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific
    {
        get
        {
            lock (Gate)
            {
                return
                [
                    new("copy_on_demand", _tree.Header.CopyOnDemand ? "true" : "false"),
                    new("states", _tree.Records.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    new("chain depth", _chain.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    new("current btmp", _tree.Current.BtmpFile),
                    new("current irvd", _tree.Current.IrvdFile),
                    new("vm state offset", _bitmapSize.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ];
            }
        }
    }

    /// <summary>Turns copy_on_demand on or off (irow.md §7's interactive toggle, as a plain call).</summary>
    public void SetCopyOnDemand(bool on)
    {
        lock (Gate)
        {
            CheckWritable();
            if (_tree.Header.CopyOnDemand == on) return;
            _tree.Header = _tree.Header with { CopyOnDemand = on };
            CommitMeta();
        }
    }

    private void CommitMeta()
    {
        var next = IrowMetaFile.Replace(_metaPath, _tree, keepWriterLock: true);
        var old = _metaLock;
        _metaLock = next;
        old?.Dispose();
    }

    protected override void Close()
    {
        try
        {
            FinishReplace();
            FlushCore();
        }
        finally
        {
            CloseHandles();
            _backing?.Dispose();
            _metaLock?.Dispose();
        }
    }

    private void CloseHandles()
    {
        foreach (var l in _chain) if (!ReferenceEquals(l.Irvd, _curIrvd)) l.Irvd.Dispose();
        _chain = [];
        _curBtmp?.Dispose();
        _curIrvd?.Dispose();
    }
}
