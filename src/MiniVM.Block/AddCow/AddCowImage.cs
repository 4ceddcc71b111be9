using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.AddCow;

/// <summary>
/// An add-cow v8 image (add-cow.md): a metadata file (header + COW bitmap), a raw file laid out like the disk, and a
/// read-only backing image. Bit set → the cluster is in raw; clear → backing (zeroes past its end or without one).
/// Crash safety rests on one invariant (§3.5): a bit is durable only after its cluster is durable in raw, and bits
/// are never cleared, so no repair is ever needed after a crash. No guest data is cached (§4.1 item 1).
/// </summary>
public sealed partial class AddCowImage : BlockDriver, IImageCheck, IBackingImage, IImageInfo, IResizable, IExtentOwners
{
    public const int ClusterBits = 16;
    public const int ClusterSize = 1 << ClusterBits;
    public const int SectorSize = 512;

    /// <summary>Largest disk accepted (add-cow.md §6.3): 2 TiB, a 4 MiB bitmap.</summary>
    public const long MaxVirtualSize = 2L << 40;

    private readonly SafeFileHandle _meta;
    private readonly SafeFileHandle _raw;
    private readonly IBlockDriver? _backing;
    private readonly AddCowBitmap _bitmap;
    private AddCowHeader _header;
    /// <summary>For the backing link: how a new backing name is resolved and probed (AddCowImage.Backing.cs).</summary>
    private ImageFormats _registry = ImageFormats.Default;
    private bool _allowUnsafePaths;
    private long _metaLength;
    private int _strayBitsFound;
    /// <summary>Bitmap bytes were written to the add-cow file since its last fdatasync.</summary>
    private bool _metaUnsynced;

    /// <summary>Test seam: sees each ordered host step (raw writes, syncs, bitmap writes).</summary>
    internal AddCowHostObserver? HostObserver { get; set; }

    private AddCowImage(string fileName, string rawPath, AddCowHeader header, SafeFileHandle meta, long metaLength,
        SafeFileHandle raw, long size, AddCowBitmap bitmap, IBlockDriver? backing, bool readOnly, int strayBits)
    {
        FileName = fileName; RawPath = rawPath; _header = header; _meta = meta; _metaLength = metaLength;
        _raw = raw; _size = size; _bitmap = bitmap; _backing = backing; IsReadOnly = readOnly; _strayBitsFound = strayBits;
    }

    public override string FormatName => "add-cow";
    public override string FileName { get; }

    /// <summary>Host path of the raw image file the header names.</summary>
    public string RawPath { get; }

    /// <summary>The raw file's length (add-cow.md §2.3: it defines the disk size).</summary>
    public override long Size => _size;
    private long _size;
    public override bool IsReadOnly { get; }

    /// <summary>Stored name of the raw image file, as in the header.</summary>
    public string ImageFileName => _header.ImageFile;

    public string? BackingFileName => _header.BackingFile.Length == 0 ? null : _header.BackingFile;

    /// <summary>add-cow stores no backing format (§2.1); the backing is opened by probing.</summary>
    public string? BackingFormat => null;

    public IBlockDriver? Backing => _backing;

    /// <summary>Clusters in the disk (the last one may be partial).</summary>
    public long Clusters => _bitmap.Clusters;

    /// <summary>Whether cluster <paramref name="cluster"/> is held in the raw file.</summary>
    public bool IsAllocated(long cluster)
    {
        lock (Gate)
        {
            CheckUsable();
            if ((ulong)cluster >= (ulong)_bitmap.Clusters)
                throw new ImageFormatException(FileName, $"cluster {cluster} is outside the disk ({_bitmap.Clusters} clusters)");
            return _bitmap.IsSet(cluster);
        }
    }

    long IImageInfo.ClusterSize => ClusterSize;
    public long DiskUsage => HostFile.AllocatedBytes(FileName) + HostFile.AllocatedBytes(RawPath);
    public IReadOnlyList<string> Files => [FileName, RawPath];

    /// <summary>Allocated clusters live in the raw file, whose name block status gives.</summary>
    public IReadOnlyList<ExtentOwner> ExtentOwners => [new(RawPath, Path.GetFileName(RawPath))];

    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific
    {
        get
        {
            lock (Gate)
            {
                return
                [
                    new("image file", _header.ImageFile),
                    new("allocated clusters", $"{_bitmap.CountSet()} of {_bitmap.Clusters}"),
                ];
            }
        }
    }

    /// <summary>
    /// Opens an add-cow file, validating in the order of add-cow.md §6.2. The raw and add-cow files are opened
    /// exclusively when writable (§5.1 item 9); the backing always read-only through the registry.
    /// </summary>
    public static AddCowImage Open(string fileName, ImageOpenContext context)
    {
        bool write = !context.ReadOnly;
        SafeFileHandle meta = OpenExclusive(fileName, write);
        SafeFileHandle? raw = null;
        IBlockDriver? backing = null;
        try
        {
            long metaLength = RandomAccess.GetLength(meta);
            var head = new byte[AddCowHeader.Size];
            int got = ReadHost(meta, 0, head);
            var header = AddCowHeader.Parse(head.AsSpan(0, got), fileName);

            string rawPath = AddCowStoredName.Resolve(fileName, header.ImageFile, context.AllowUnsafePaths, "image file", mustExist: true);
            string? backingPath = header.BackingFile.Length == 0 ? null
                : AddCowStoredName.Resolve(fileName, header.BackingFile, context.AllowUnsafePaths, AddCowStoredName.BackingFile, mustExist: !context.NoBacking);
            AddCowStoredName.CheckDistinct(fileName, rawPath, backingPath);
            if (context.Chain.Contains(AddCowStoredName.Canonical(rawPath)) || context.Chain.Contains(Path.GetFullPath(rawPath)))
                throw new ImageFormatException(fileName, $"image file '{header.ImageFile}' is also an image of this backing chain");

            raw = OpenExclusive(rawPath, write);
            long size = RandomAccess.GetLength(raw);
            CheckSize(fileName, rawPath, size);

            long clusters = ClustersFor(size);
            long bitmapBytes = AddCowBitmap.BytesFor(clusters);
            if (metaLength - AddCowHeader.Size < bitmapBytes)
                throw new ImageFormatException(fileName,
                    $"bitmap is {Math.Max(0, metaLength - AddCowHeader.Size)} bytes, the {size}-byte disk needs {bitmapBytes} (file truncated?)");
            var bytes = new byte[bitmapBytes];
            if (ReadHost(meta, AddCowHeader.Size, bytes) != bytes.Length)
                throw new ImageFormatException(fileName, "bitmap is shorter than the file length says");
            var bitmap = new AddCowBitmap(bytes, clusters);
            int stray = bitmap.MaskBeyondEnd();

            if (backingPath is not null && !context.NoBacking)
                backing = context.OpenBacking(fileName, header.BackingFile, null);
            var image = new AddCowImage(fileName, rawPath, header, meta, metaLength, raw, size, bitmap, backing, !write, stray);
            image._registry = context.Registry;
            image._allowUnsafePaths = context.AllowUnsafePaths;
            if (write && stray > 0) image.Flush(); // §5.2 item 5: persist the cleared bits when writable
            return image;
        }
        catch (IOException e)
        {
            backing?.Dispose(); raw?.Dispose(); meta.Dispose();
            throw new ImageFormatException(fileName, $"cannot read: {e.Message}");
        }
        catch
        {
            backing?.Dispose(); raw?.Dispose(); meta.Dispose();
            throw;
        }
    }

    internal static long ClustersFor(long size) => (size + ClusterSize - 1) >> ClusterBits;

    internal static void CheckSize(string fileName, string rawPath, long size)
    {
        if (size <= 0)
            throw new ImageFormatException(fileName, $"image file {rawPath} is empty (its length is the disk size)");
        if (size % SectorSize != 0)
            throw new ImageFormatException(fileName, $"image file {rawPath} is {size} bytes, not a multiple of {SectorSize}");
        if (size > MaxVirtualSize)
            throw new ImageFormatException(fileName, $"image file {rawPath} is {size} bytes, more than the {MaxVirtualSize}-byte limit");
    }

    /// <summary>Opens one of the image's files locked as QEMU locks it (ImageLock): a second writer, or a reader while a
    /// writer has it, is refused unless the reader forces sharing (-U).</summary>
    internal static SafeFileHandle OpenExclusive(string path, bool write)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, write ? FileAccess.ReadWrite : FileAccess.Read,
                FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ImageFormatException(path, $"cannot open{(write ? " for writing" : "")}: {e.Message}");
        }
        try { ImageLock.Acquire(handle, path, write ? ImageLockMode.Write : ImageLock.ReaderMode); }
        catch { handle.Dispose(); throw; }
        return handle;
    }

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        // One host read per run of clusters that share a state (Stefan's is_allocated point, §3.3).
        while (buffer.Length > 0)
        {
            long k = offset >> ClusterBits;
            long clusters = ((offset + buffer.Length - 1) >> ClusterBits) - k + 1;
            long run = _bitmap.Run(k, clusters, out bool set);
            long runEnd = Math.Min((k + run) << ClusterBits, offset + buffer.Length);
            int n = (int)(runEnd - offset);
            // Unallocated bytes: the backing where it reaches, zeroes beyond its end or without one (§5.2 item 8).
            if (set) ReadHost(_raw, offset, buffer[..n]);
            else ReadBacking(_backing, offset, buffer[..n]);
            offset += n;
            buffer = buffer[n..];
        }
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> data)
    {
        WriteClusters(offset, data.Length, data, zeroes: false);
        WriteThroughBitmap();
    }

    protected override void WriteZeroesCore(long offset, long length)
    {
        WriteClusters(offset, length, default, zeroes: true);
        WriteThroughBitmap();
    }

    /// <summary>
    /// add-cow.md §3.4: partial unallocated clusters (only the first and the last of a request can be) are filled from
    /// the backing and written whole; everything between goes to raw in one write. Bits are set in memory only after
    /// the raw write returned; they reach the file at the next flush, after raw's fsync.
    /// </summary>
    private void WriteClusters(long offset, long length, ReadOnlySpan<byte> data, bool zeroes)
    {
        if (length == 0) return;
        long end = offset + length;
        long first = offset >> ClusterBits, last = (end - 1) >> ClusterBits;
        long midStart = offset, midEnd = end;

        if (NeedsCopyOnWrite(first, offset, end, zeroes))
        {
            long cEnd = Math.Min((first + 1) << ClusterBits, end);
            CopyOnWrite(first, offset, zeroes ? default : data[..(int)(cEnd - offset)], cEnd - offset, zeroes);
            midStart = cEnd;
        }
        if (last > first && midStart < end && NeedsCopyOnWrite(last, Math.Max(midStart, last << ClusterBits), end, zeroes))
        {
            long cStart = last << ClusterBits;
            CopyOnWrite(last, cStart, zeroes ? default : data[(int)(cStart - offset)..], end - cStart, zeroes);
            midEnd = cStart;
        }
        if (midStart >= midEnd) return;

        if (zeroes) ZeroRaw(midStart, midEnd - midStart);
        else
        {
            RandomAccess.Write(_raw, data.Slice((int)(midStart - offset), (int)(midEnd - midStart)), midStart);
            HostObserver?.Invoke(AddCowHostOp.RawWrite, midStart, midEnd - midStart, default);
        }
        for (long k = midStart >> ClusterBits, kEnd = (midEnd - 1) >> ClusterBits; k <= kEnd; k++)
        {
            if (zeroes && !_bitmap.IsSet(k) && !HasBackingData(k)) continue; // already reads as zeroes
            _bitmap.Set(k);
        }
    }

    /// <summary>True when the write covers only part of cluster <paramref name="k"/> and the cluster is not in raw yet.</summary>
    private bool NeedsCopyOnWrite(long k, long segStart, long reqEnd, bool zeroes)
    {
        if (_bitmap.IsSet(k)) return false;
        long cStart = k << ClusterBits, cEnd = Math.Min(cStart + ClusterSize, Size);
        if (segStart <= cStart && reqEnd >= cEnd) return false;
        return !zeroes || HasBackingData(k);
    }

    private bool HasBackingData(long k) => _backing is not null && (k << ClusterBits) < _backing.Size;

    private void CopyOnWrite(long k, long segStart, ReadOnlySpan<byte> data, long segLength, bool zeroes)
    {
        long cStart = k << ClusterBits;
        int cLen = (int)(Math.Min(cStart + ClusterSize, Size) - cStart);
        // §3.4 step 3, "writing only the gaps plus the guest bytes": when the backing reads zeroes over the whole
        // cluster and raw does too, the gaps already hold the fill, so only the guest bytes go to raw (a 4 KiB
        // write into a new cluster is one 4 KiB write, not a 64 KiB read and write). The bit is still set only
        // after that write and reaches the file only after raw's fsync, as for a full copy.
        if (BackingReadsZeroes(cStart, cLen))
        {
            if (zeroes) return; // the cluster reads as zeroes through the backing already; no bit needed
            if (RawReadsZeroes(cStart, cLen))
            {
                RandomAccess.Write(_raw, data[..(int)segLength], segStart);
                HostObserver?.Invoke(AddCowHostOp.RawWrite, segStart, segLength, default);
                _bitmap.Set(k);
                return;
            }
        }
        byte[] buf = ArrayPool<byte>.Shared.Rent(ClusterSize);
        try
        {
            var cluster = buf.AsSpan(0, cLen);
            ReadBacking(_backing, cStart, cluster);
            var into = cluster.Slice((int)(segStart - cStart), (int)segLength);
            if (zeroes) into.Clear(); else data[..(int)segLength].CopyTo(into);
            RandomAccess.Write(_raw, cluster, cStart);
            HostObserver?.Invoke(AddCowHostOp.RawWrite, cStart, cLen, default);
            _bitmap.Set(k);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>
    /// Whether the backing chain reads zeroes over the range by its block status (a hole, a zero run, past its end,
    /// or no backing at all). A range of more than one state answers false: the full copy is then always right.
    /// </summary>
    private bool BackingReadsZeroes(long offset, long length)
    {
        for (IBlockDriver? layer = _backing; layer is not null; layer = (layer as IBackingImage)?.Backing)
        {
            if (offset >= layer.Size) return true;
            length = Math.Min(length, layer.Size - offset);
            var e = layer.GetBlockStatus(offset, length);
            if (e.Length < length || e.Kind == ExtentKind.Data) return false;
            if (e.Kind == ExtentKind.Zero) return true;
        }
        return true;
    }

    /// <summary>
    /// Whether raw reads zeroes over an unallocated cluster: it is a hole in the host file (new raw files are sparse),
    /// or can be made one by punching. Stale bytes there (a raw that existed at create, or an unflushed write before a
    /// crash) belong to no guest data while the bit is clear, so punching them away loses nothing.
    /// </summary>
    private bool RawReadsZeroes(long offset, long length)
    {
        if (HostFile.TryGetAllocation(_raw, offset, Size, out bool isData, out long runEnd) && !isData && runEnd >= offset + length)
            return true;
        if (!HostFile.TryPunchHole(_raw, offset, length)) return false;
        HostObserver?.Invoke(AddCowHostOp.RawWrite, offset, length, default);
        return true;
    }

    private void ZeroRaw(long offset, long length)
    {
        HostObserver?.Invoke(AddCowHostOp.RawWrite, offset, length, default);
        if (HostFile.TryPunchHole(_raw, offset, length)) return;
        byte[] zero = ArrayPool<byte>.Shared.Rent((int)Math.Min(length, 1 << 20));
        try
        {
            Array.Clear(zero);
            while (length > 0)
            {
                int n = (int)Math.Min(length, zero.Length);
                RandomAccess.Write(_raw, zero.AsSpan(0, n), offset);
                offset += n; length -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(zero); }
    }

    /// <summary>
    /// Never clears a bit (§5.1 item 6: that would expose the backing again and break the monotonic invariant):
    /// allocated clusters in the range are zeroed in raw, unallocated ones keep reading the backing.
    /// </summary>
    protected override void DiscardCore(long offset, long length)
    {
        long end = offset + length;
        while (offset < end)
        {
            long k = offset >> ClusterBits;
            long run = _bitmap.Run(k, ((end - 1) >> ClusterBits) - k + 1, out bool set);
            long runEnd = Math.Min((k + run) << ClusterBits, end);
            if (set) ZeroRaw(offset, runEnd - offset);
            offset = runEnd;
        }
    }

    /// <summary>§3.5 write-back order: fsync raw (always, even with a clean bitmap), then the dirty bitmap sectors, then fsync the add-cow file.</summary>
    protected override void FlushCore()
    {
        if (IsReadOnly) return;
        HostFile.SyncData(_raw, RawPath);
        HostObserver?.Invoke(AddCowHostOp.RawSync, 0, 0, default);
        WriteDirtyBitmap();
        if (!_metaUnsynced) return;
        HostFile.SyncData(_meta, FileName);
        HostObserver?.Invoke(AddCowHostOp.MetaSync, 0, 0, default);
        _metaUnsynced = false;
    }

    /// <summary>
    /// The end of every request that set bits: raw is synced, then the bits go to the add-cow file without an fsync,
    /// so a killed process loses no completed write and a power failure still never finds a bit over unsynced data
    /// (add-cow.md §3.5; docs/durability.md). The fdatasync is paid once per request that allocates, not per write.
    /// </summary>
    private void WriteThroughBitmap()
    {
        if (!_bitmap.IsDirty) return;
        HostFile.SyncData(_raw, RawPath);
        HostObserver?.Invoke(AddCowHostOp.RawSync, 0, 0, default);
        WriteDirtyBitmap();
    }

    private void WriteDirtyBitmap()
    {
        if (!_bitmap.IsDirty) return;
        _bitmap.WriteDirty((start, bytes) =>
        {
            RandomAccess.Write(_meta, bytes.Span, AddCowHeader.Size + start);
            HostObserver?.Invoke(AddCowHostOp.BitmapWrite, start, bytes.Length, bytes.Span);
        });
        _metaUnsynced = true;
    }

    protected override Extent BlockStatusCore(long offset, long length)
    {
        long k = offset >> ClusterBits;
        long run = _bitmap.Run(k, ((offset + length - 1) >> ClusterBits) - k + 1, out bool set);
        long n = Math.Min((k + run) << ClusterBits, offset + length) - offset;
        return set ? new Extent(offset, n, ExtentKind.Data, RawPath, offset) : new Extent(offset, n, ExtentKind.Unallocated);
    }

    /// <summary>Flushes under the full ordering (§3.8), closes the files, and reports a flush failure after closing.</summary>
    protected override void Close()
    {
        try
        {
            FlushCore();
        }
        finally
        {
            _raw.Dispose();
            _meta.Dispose();
            _backing?.Dispose();
        }
    }
}
