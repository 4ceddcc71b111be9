using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Fvd;

/// <summary>
/// An FVD version 1 image (fvd.md): copy-on-write against a base image of any registered format through a bitmap,
/// optional copy-on-read, the optional compact one-level table, and the metadata journal. The driver is synchronous
/// and serialised by one lock (fvd.md §5.1), so the original's copy locks and dependent-write lists are not needed.
/// <para>
/// Durability (fvd.md §5.4 item 11): a write changes the in-memory bitmap and table and queues its journal sectors;
/// <see cref="Flush"/> syncs the data, then appends the queued sectors, then syncs the metadata. When the journal is
/// full, a checkpoint writes the changed bitmap and table pages, syncs, and zeroes the used journal sectors. Each round
/// of the journal is therefore written from sector 0 into a zeroed region, and replay stops at the first sector without
/// a record: anything after it is left from an earlier round and is ignored as stale.
/// </para>
/// Whole-image prefetch (fvd.md §3.7) is in FvdImage.Prefetch.cs: a VM's open starts it after prefetch_start_delay,
/// `minivm img prefetch` runs it in the foreground.
/// </summary>
public sealed partial class FvdImage : BlockDriver, IImageCheck, IBackingImage, IImageInfo, IExtentOwners
{
    private const uint Empty = 0xFFFFFFFF;
    private const uint DirtyBit = 0x80000000;
    private const int ScratchSize = 256 * 1024;
    /// <summary>Growth beyond this per step is pointless (files are sparse) and hostile headers may ask for terabytes.</summary>
    internal const long MaxGrowStep = 1L << 30;

    private readonly SafeFileHandle _meta;
    private readonly SafeFileHandle _data;
    private readonly string _dataPath;
    private readonly FvdHeader _h;
    private readonly bool _writable;
    private readonly long _dataOffset;
    private readonly long _baseEnd;
    private readonly int _blockSize;
    private readonly long _chunkSize;
    /// <summary>The in-memory truth, including copy-on-read results (fvd.md §3.3 "fresh").</summary>
    private readonly byte[] _fresh = [];
    /// <summary>Bits recorded in the journal queue, the journal, or the on-disk bitmap (fvd.md §3.3 "stale").</summary>
    private byte[] _stale = [];
    private readonly bool[] _bitmapPageDirty = [];
    private uint[] _table = [];
    private readonly bool[] _tablePageDirty = [];
    private long _nextChunk;
    private long _dataLength;
    private readonly long _journalSectors;
    private byte[] _pending = [];
    private int _pendingSectors;
    /// <summary>The queue did not fit in the journal: the next flush writes a checkpoint instead.</summary>
    private bool _checkpointDue;
    private long _journalNext;
    /// <summary>Journal sectors [0, this) may hold records; a checkpoint zeroes them.</summary>
    private long _journalUsed;
    private bool _metadataDirty;
    /// <summary>Journal sectors were written since the metadata file's last fdatasync.</summary>
    private bool _metaUnsynced;
    private bool _dataUnsynced;
    private int _dirtyEntriesOnDisk;
    private bool _openedUnclean;
    private IBlockDriver? _backing;
    private readonly List<FvdJournal.Record> _records = new();

    public override string FormatName => "fvd";
    public override string FileName { get; }
    public override long Size => _h.VirtualDiskSize;
    public override bool IsReadOnly => !_writable;
    public FvdHeader Header => _h;
    /// <summary>None once all data is in the image: the base is never opened again (fvd.md §3.2 step 5).</summary>
    public string? BackingFileName => _h.HasBitmap && _h.BaseImage.Length > 0 ? _h.BaseImage : null;
    public string? BackingFormat => _h.BaseImageFormat.Length > 0 ? _h.BaseImageFormat : null;
    public IBlockDriver? Backing => _backing;

    /// <summary>Runtime copy-on-read switch (the original's test hook); starts as the header says, only acts when writable.</summary>
    public bool CopyOnRead { get; set; }

    /// <summary>Journal sectors replayed by the last open (0 after a clean shutdown).</summary>
    public int ReplayedSectors { get; private set; }

    public long ClusterSize => _h.CompactImage ? _chunkSize : _blockSize;
    public long DiskUsage => HostFile.AllocatedBytes(FileName) + (_dataPath != FileName ? HostFile.AllocatedBytes(_dataPath) : 0);
    public IReadOnlyList<string> Files => _dataPath != FileName ? [FileName, _dataPath] : [FileName];

    /// <summary>Data lives in the data area: the image file itself, or its data file (block status names it).</summary>
    public IReadOnlyList<ExtentOwner> ExtentOwners => [new(_dataPath, Path.GetFileName(_dataPath))];

    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific
    {
        get
        {
            var l = new List<KeyValuePair<string, string>>
            {
                new("compact image", Lower(_h.CompactImage)),
                new("copy on read", Lower(_h.CopyOnRead)),
                new("all data in fvd image", Lower(_h.AllDataInFvdImage)),
                new("clean shutdown", Lower(_h.CleanShutdown)),
                new("journal size", _h.JournalSize.ToString()),
                new("prefetch", !_h.HasBitmap ? "finished (all data in the image)"
                    : _h.PrefetchStartDelay > 0 ? $"starts {_h.PrefetchStartDelay} s after a VM opens the image"
                    : "not started by a VM (prefetch_start_delay off); minivm img prefetch copies the base"),
            };
            if (_h.HasBitmap)
            {
                l.Add(new("block size", _blockSize.ToString()));
                l.Add(new("base image size", _h.BaseImageSize.ToString()));
            }
            if (_h.CompactImage)
            {
                l.Add(new("chunk size", _chunkSize.ToString()));
                l.Add(new("storage grow unit", _h.StorageGrowUnit.ToString()));
                l.Add(new("used storage", (_nextChunk * _chunkSize).ToString()));
            }
            if (_h.DataFile.Length > 0) l.Add(new("data file", _h.DataFile));
            if (_h.AddStorageCommand.Length > 0) l.Add(new("add storage cmd", $"{_h.AddStorageCommand} (stored, never run)"));
            if (_h.NeedZeroInit) l.Add(new("need zero init", "true"));
            return l;
        }
    }

    private static string Lower(bool b) => b ? "true" : "false";

    private FvdImage(string fileName, SafeFileHandle meta, FvdHeader h, bool writable, SafeFileHandle data, string dataPath)
    {
        FileName = fileName;
        _meta = meta;
        _h = h;
        _writable = writable;
        _data = data;
        _dataPath = dataPath;
        _dataOffset = h.DataOffset;
        _baseEnd = h.HasBitmap ? h.BaseImageSize : 0;
        _blockSize = h.HasBitmap ? h.BlockSize : 0;
        _chunkSize = h.CompactImage ? h.ChunkSize : 0;
        _journalSectors = h.JournalSize / FvdHeader.Sector;
        CopyOnRead = h.CopyOnRead && h.HasBitmap;
        if (h.HasBitmap)
        {
            long bytes = (h.BlockCount + 7) / 8;
            _fresh = new byte[bytes];
            _bitmapPageDirty = new bool[(bytes + FvdHeader.Page - 1) / FvdHeader.Page];
        }
        if (h.CompactImage)
        {
            _table = new uint[h.ChunkCount];
            _tablePageDirty = new bool[(h.ChunkCount * 4 + FvdHeader.Page - 1) / FvdHeader.Page];
        }
    }

    /// <summary>Opens an existing image; the base image is opened through <paramref name="context"/>.</summary>
    public static FvdImage Open(string fileName, ImageOpenContext context)
    {
        bool writable = !context.ReadOnly;
        var meta = HostFile.OpenHandle(fileName, writable);
        SafeFileHandle? data = null;
        FvdImage? img = null;
        try
        {
            long len = RandomAccess.GetLength(meta);
            var head = new byte[Math.Min(len, FvdHeader.Length)];
            ReadHost(meta, 0, head);
            var h = FvdHeader.Parse(head, len, fileName);
            string dataPath = fileName;
            if (h.DataFile.Length > 0)
            {
                dataPath = ImagePaths.ResolveStoredName(fileName, h.DataFile, context.AllowUnsafePaths, "data file");
                // Guest writes at data offset 0 would overwrite the header, or the base image under the overlay.
                string full = Path.GetFullPath(dataPath);
                if (full == Path.GetFullPath(fileName) ||
                    (h.BaseImage.Length > 0 && h.BaseImage == h.DataFile))
                    throw ImageFormatException.BadField(fileName, "data_file", h.DataFile, "names the image itself or its base image");
                if (!File.Exists(dataPath)) throw new ImageFormatException(fileName, $"data file '{h.DataFile}' does not exist");
                data = HostFile.OpenHandle(dataPath, writable);
            }
            img = new FvdImage(fileName, meta, h, writable, data ?? meta, dataPath);
            img.Load(context);
            return img;
        }
        catch
        {
            img?._backing?.Dispose();
            data?.Dispose();
            meta.Dispose();
            throw;
        }
    }

    private void Load(ImageOpenContext context)
    {
        _dataLength = RandomAccess.GetLength(_data);
        _openedUnclean = !_h.CleanShutdown;
        if (_h.HasBitmap)
        {
            ReadHost(_meta, _h.BitmapOffset, _fresh);
            _stale = _fresh;
        }
        if (_h.CompactImage) LoadTable();
        if (!_h.CleanShutdown && _journalSectors > 0) Replay();
        if (_h.CompactImage) ScanTable();
        // Copy-on-read bits are "soft" (fvd.md §3.3): kept apart from the journaled ones only when they can differ.
        if (_h.HasBitmap && CopyOnRead && _writable) _stale = (byte[])_fresh.Clone();

        if (_h.HasBitmap && !context.NoBacking)
            _backing = context.OpenBacking(FileName, _h.BaseImage, BackingFormat);

        if (!_writable) return;
        if (_metadataDirty) WriteCheckpoint();
        if (_h.CompactImage && _dataLength > _dataOffset + _nextChunk * _chunkSize)
        {
            // Storage past the last chunk in use holds nothing the metadata points at, but may hold bytes of chunks a
            // crash lost before they were journaled: cut it, so a chunk handed out again reads zeroes where unwritten.
            SetDataLength(_dataOffset + _nextChunk * _chunkSize);
        }
        if (_h.CleanShutdown) WriteCleanShutdown(false);
        if (context.PrefetchInBackground) ArmBackgroundPrefetch();
    }

    private void LoadTable()
    {
        var raw = new byte[_table.Length * 4];
        ReadHost(_meta, _h.TableOffset, raw);
        for (int i = 0; i < _table.Length; i++)
        {
            uint e = BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4));
            if (e != Empty && (e & DirtyBit) != 0) { _dirtyEntriesOnDisk++; e &= ~DirtyBit; }
            _table[i] = e;
        }
    }

    /// <summary>Checks every id (fvd.md §5.3) and finds the next free chunk: (max id + 1) (fvd.md §2.5).</summary>
    private void ScanTable()
    {
        long max = -1;
        for (int i = 0; i < _table.Length; i++)
        {
            uint e = _table[i];
            if (e == Empty) continue;
            if (e >= 0x7FFFFFFF)
                throw new ImageFormatException(FileName, $"table entry {i} = 0x{e:X8}: chunk id 0x7FFFFFFF is reserved (image is corrupt)");
            if (e > max) max = e;
        }
        _nextChunk = max + 1;
        long need = _dataOffset + _nextChunk * _chunkSize;
        if (_dataLength < need)
            throw new ImageFormatException(FileName,
                $"table uses chunks up to id {max}, ending at byte {need}, but the data storage is only {_dataLength} bytes (image is corrupt)");
    }

    // ---- journal replay (fvd.md §2.6, §5.3 "Replay") -------------------------------------------------------

    private void Replay()
    {
        var buf = new byte[64 * 1024];
        long lastNonEmpty = -1;
        bool roundEnded = false;
        for (long s = 0; s < _journalSectors; s += buf.Length / FvdJournal.SectorSize)
        {
            int n = (int)Math.Min(buf.Length / FvdJournal.SectorSize, _journalSectors - s);
            ReadHost(_meta, _h.JournalOffset + s * FvdJournal.SectorSize, buf.AsSpan(0, n * FvdJournal.SectorSize));
            for (int i = 0; i < n; i++)
            {
                var sector = buf.AsSpan(i * FvdJournal.SectorSize, FvdJournal.SectorSize);
                if (sector.IndexOfAnyExcept((byte)0) >= 0) lastNonEmpty = s + i;
                if (roundEnded) continue;
                // A round is written from sector 0 into a zeroed journal: the first sector without a record ends it,
                // and whatever follows is stale, from an earlier round.
                if (!FvdJournal.Decode(sector, s + i, FileName, _records)) { roundEnded = true; continue; }
                foreach (var r in _records) ApplyRecord(r, sector, s + i);
                ReplayedSectors++;
            }
        }
        _journalUsed = lastNonEmpty + 1;
        if (_journalUsed > 0) _metadataDirty = true;
    }

    private void ApplyRecord(FvdJournal.Record r, ReadOnlySpan<byte> sector, long index)
    {
        long diskSectors = _h.VirtualDiskSize / FvdHeader.Sector;
        if (r.Type == FvdJournal.BitmapRecord)
        {
            if (r.SectorNum < 0 || r.SectorNum > diskSectors || r.SectorCount > diskSectors - r.SectorNum)
                throw new ImageFormatException(FileName,
                    $"journal sector {index}: bitmap record for sectors {r.SectorNum}+{r.SectorCount} lies outside the {diskSectors}-sector disk");
            if (!_h.HasBitmap || r.SectorCount == 0) return;
            long from = r.SectorNum * FvdHeader.Sector, to = Math.Min((r.SectorNum + r.SectorCount) * FvdHeader.Sector, _baseEnd);
            if (from >= to) return;
            for (long b = from / _blockSize; b <= (to - 1) / _blockSize; b++)
            {
                SetBit(_fresh, b);
                _bitmapPageDirty[(b >> 3) / FvdHeader.Page] = true;
            }
            return;
        }
        if (!_h.CompactImage)
            throw new ImageFormatException(FileName, $"journal sector {index}: table record in an image without a table");
        if ((long)r.FirstChunk + r.Count > _table.Length)
            throw new ImageFormatException(FileName,
                $"journal sector {index}: table record for chunks {r.FirstChunk}+{r.Count} lies outside the {_table.Length}-entry table");
        for (int i = 0; i < r.Count; i++)
        {
            uint e = BinaryPrimitives.ReadUInt32LittleEndian(sector[(r.EntriesOffset + 4 * i)..]);
            // An EMPTY entry carries no update: a record lists every chunk of its request, and ids are never taken
            // back, so it cannot undo an assignment a later record or a checkpoint made.
            if (e == Empty) continue;
            e &= ~DirtyBit;
            long c = r.FirstChunk + i;
            uint cur = _table[c];
            if (cur == e) continue;
            // Chunk ids are assigned once and never change (fvd.md §2.6): a record that would change one is not a
            // record of this image's history.
            if (cur != Empty || e >= 0x7FFFFFFF)
                throw new ImageFormatException(FileName,
                    $"journal sector {index}: table record sets chunk {c} to 0x{e:X8}, but it is 0x{cur:X8} (journal is corrupt)");
            _table[c] = e;
            _tablePageDirty[c * 4 / FvdHeader.Page] = true;
        }
    }

    // ---- host I/O ----------------------------------------------------------------------------------------------

    private void WriteMeta(long offset, ReadOnlySpan<byte> data)
    {
        try { RandomAccess.Write(_meta, data, offset); }
        catch (IOException e) { throw new ImageIOException(FileName, "metadata write", e); }
    }

    private void WriteData(long hostOffset, ReadOnlySpan<byte> data)
    {
        try { RandomAccess.Write(_data, data, hostOffset); }
        catch (IOException e) { throw new ImageIOException(_dataPath, "data write", e); }
        _dataUnsynced = true;
        if (hostOffset + data.Length > _dataLength) _dataLength = hostOffset + data.Length;
    }

    private void SetDataLength(long length)
    {
        try { RandomAccess.SetLength(_data, length); }
        catch (IOException e) { throw new ImageIOException(_dataPath, $"resizing the data storage to {length}", e); }
        _dataLength = length;
        _dataUnsynced = true;
    }

    private void SyncData()
    {
        if (!_dataUnsynced) return;
        HostFile.SyncData(_data, _dataPath);
        _dataUnsynced = false;
    }

    private void SyncMeta() => HostFile.SyncData(_meta, FileName);

    // ---- bits --------------------------------------------------------------------------------------------------

    /// <summary>Bit b of the bitmap is bit (b mod 8), LSB first, of byte b / 8 (fvd.md §2.4).</summary>
    private static bool Bit(byte[] bm, long b) => (bm[b >> 3] & (1 << (int)(b & 7))) != 0;

    private static void SetBit(byte[] bm, long b) => bm[b >> 3] |= (byte)(1 << (int)(b & 7));

    /// <summary>The first block in [b, limit) whose bit is not <paramref name="v"/>, or limit (whole bytes skipped at once).</summary>
    private static long RunEnd(byte[] bm, long b, bool v, long limit)
    {
        while (b < limit)
        {
            if ((b & 7) == 0 && limit - b >= 8)
            {
                long bytes = (limit - b) >> 3;
                int k = bm.AsSpan((int)(b >> 3), (int)bytes).IndexOfAnyExcept(v ? (byte)0xFF : (byte)0);
                if (k < 0) { b += bytes << 3; continue; }
                b += (long)k << 3;
            }
            if (Bit(bm, b) != v) return b;
            b++;
        }
        return limit;
    }

    private bool BitmapActive => _h.HasBitmap;

    // ---- reading -----------------------------------------------------------------------------------------------

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        long end = offset + buffer.Length;
        long pos = offset;
        if (BitmapActive)
        {
            long baseStop = Math.Min(end, _baseEnd);
            while (pos < baseStop)
            {
                long b = pos / _blockSize;
                bool inFvd = Bit(_fresh, b);
                long lastBlock = (baseStop - 1) / _blockSize;
                long runEnd = Math.Min(RunEnd(_fresh, b, inFvd, lastBlock + 1) * _blockSize, baseStop);
                var dst = buffer.Slice((int)(pos - offset), (int)(runEnd - pos));
                if (inFvd) LoadData(pos, dst);
                else
                {
                    ReadBacking(_backing, pos, dst); // past the base's end (its last partial sector, fvd.md §5.1 item 3): zeroes
                    if (CopyOnRead && _writable && _backing is not null) CopyUp(b, (runEnd - 1) / _blockSize);
                }
                pos = runEnd;
            }
        }
        if (pos < end) LoadData(pos, buffer[(int)(pos - offset)..]);
    }

    /// <summary>Reads guest bytes from the data area (through the table when compact).</summary>
    private void LoadData(long voff, Span<byte> dst)
    {
        if (!_h.CompactImage) { ReadHost(_data, _dataOffset + voff, dst); return; }
        int pos = 0;
        while (pos < dst.Length)
        {
            long v = voff + pos;
            long c = v / _chunkSize;
            long intra = v - c * _chunkSize;
            int n = (int)Math.Min(_chunkSize - intra, dst.Length - pos);
            uint id = _table[c];
            if (id == Empty)
            {
                // A run of empty chunks reads as zeroes.
                while (pos + n < dst.Length && _table[c + 1] == Empty) { c++; n += (int)Math.Min(_chunkSize, dst.Length - pos - n); }
                dst.Slice(pos, n).Clear();
            }
            else
            {
                // Chunks with consecutive ids are one host read.
                while (pos + n < dst.Length && _table[c + 1] == id + 1) { c++; id++; n += (int)Math.Min(_chunkSize, dst.Length - pos - n); }
                ReadHost(_data, _dataOffset + _table[v / _chunkSize] * _chunkSize + intra, dst.Slice(pos, n));
            }
            pos += n;
        }
    }

    // ---- writing -----------------------------------------------------------------------------------------------

    protected override string? WriteRefusal =>
        !_writable ? "image is open read-only"
        : _h.HasBitmap && _backing is null ? "image is open without its base image; a write would copy zeroes in place of base data"
        : null;

    protected override void WriteCore(long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length > 0) WriteRange(offset, data, data.Length, zero: false);
        WriteThroughJournal();
    }

    /// <summary>FVD never gives storage back (ids and bits only grow, fvd.md §2.6), so a discard writes zeroes too.</summary>
    protected override void WriteZeroesCore(long offset, long length)
    {
        // Pieces keep each journal update small and every run inside an int.
        const long Piece = 4L << 20;
        for (long done = 0; done < length; done += Piece)
            WriteRange(offset + done, default, Math.Min(Piece, length - done), zero: true);
        WriteThroughJournal();
    }

    /// <summary>The write path of fvd.md §3.5 done synchronously: copy-on-write of partial base blocks, store, then record.</summary>
    private void WriteRange(long off, ReadOnlySpan<byte> data, long len, bool zero)
    {
        long end = off + len;
        bool bitmapChanged = false;
        long allocatedBefore = _nextChunk;
        if (BitmapActive && off < _baseEnd)
        {
            long cowEnd = Math.Min(end, _baseEnd);
            long firstBlock = off / _blockSize, lastBlock = (cowEnd - 1) / _blockSize;
            long headStart = firstBlock * _blockSize;
            if (off > headStart && !Bit(_fresh, firstBlock)) CopyBaseToData(headStart, off);
            long tailEnd = Math.Min((lastBlock + 1) * _blockSize, _baseEnd);
            if (end < tailEnd && !Bit(_fresh, lastBlock)) CopyBaseToData(end, tailEnd);
            Store(off, data, len, zero);
            for (long b = firstBlock; b <= lastBlock; b++)
            {
                // Journal whenever the durable bit is 0, even if copy-on-read already set the fresh one (fvd.md §3.3).
                // Tested first: without copy-on-read the two bitmaps are one array.
                if (!Bit(_stale, b)) { SetBit(_stale, b); bitmapChanged = true; }
                if (!Bit(_fresh, b) || bitmapChanged) { SetBit(_fresh, b); _bitmapPageDirty[(b >> 3) / FvdHeader.Page] = true; }
            }
        }
        else Store(off, data, len, zero);
        bool tableChanged = _h.CompactImage && _nextChunk != allocatedBefore;
        if (bitmapChanged || tableChanged) Record(off, end, bitmapChanged, tableChanged);
    }

    /// <summary>Copies base bytes [from, to) into the data area (the copy-on-write merge of a partial block).</summary>
    private void CopyBaseToData(long from, long to)
    {
        var scratch = ArrayPool<byte>.Shared.Rent((int)Math.Min(ScratchSize, to - from));
        try
        {
            for (long p = from; p < to;)
            {
                int n = (int)Math.Min(scratch.Length, to - p);
                ReadBacking(_backing, p, scratch.AsSpan(0, n));
                Store(p, scratch.AsSpan(0, n), n, zero: false);
                p += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(scratch); }
    }

    /// <summary>
    /// Copy-on-read of whole base-resident blocks [first, last] (fvd.md §3.4 step 5). A soft write: the fresh bits are set
    /// but not journaled, so a crash only means the data is fetched from the base again; a chunk it allocates is journaled
    /// so that the space is not leaked (fvd.md §5.4 item 14).
    /// </summary>
    private void CopyUp(long first, long last)
    {
        long allocatedBefore = _nextChunk;
        long from = first * _blockSize, to = Math.Min((last + 1) * _blockSize, _baseEnd);
        CopyBaseToData(from, to);
        for (long b = first; b <= last; b++)
        {
            SetBit(_fresh, b);
            _bitmapPageDirty[(b >> 3) / FvdHeader.Page] = true;
        }
        _metadataDirty = true;
        if (_nextChunk != allocatedBefore) Record(from, to, bitmap: false, table: true);
    }

    /// <summary>Puts guest bytes (or zeroes) into the data area, allocating chunks when compact (fvd.md §3.6).</summary>
    private void Store(long voff, ReadOnlySpan<byte> data, long len, bool zero)
    {
        if (!_h.CompactImage)
        {
            if (zero) StoreZeroes(_dataOffset + voff, len);
            else WriteData(_dataOffset + voff, data);
            return;
        }
        long pos = 0;
        while (pos < len)
        {
            long v = voff + pos;
            long c = v / _chunkSize;
            long intra = v - c * _chunkSize;
            long n = Math.Min(_chunkSize - intra, len - pos);
            if (_table[c] == Empty)
            {
                if (zero) { pos += n; continue; } // an empty chunk already reads as zeroes
                Allocate(c);
            }
            long host = _dataOffset + _table[c] * _chunkSize + intra;
            if (zero) StoreZeroes(host, n);
            else WriteData(host, data.Slice((int)pos, (int)n));
            pos += n;
        }
    }

    private void StoreZeroes(long host, long len)
    {
        if (host >= _dataLength) return; // past the end of a sparse file: already zeroes
        len = Math.Min(len, _dataLength - host);
        if (HostFile.TryPunchHole(_data, host, len)) { _dataUnsynced = true; return; }
        var zeros = ArrayPool<byte>.Shared.Rent((int)Math.Min(len, ScratchSize));
        try
        {
            Array.Clear(zeros);
            for (long p = 0; p < len;)
            {
                int n = (int)Math.Min(zeros.Length, len - p);
                WriteData(host + p, zeros.AsSpan(0, n));
                p += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(zeros); }
    }

    /// <summary>Appends a chunk for virtual chunk <paramref name="c"/>, growing the storage by storage_grow_unit (fvd.md §2.7).</summary>
    private void Allocate(long c)
    {
        if (_nextChunk >= 0x7FFFFFFF)
            throw new ImageFormatException(FileName, "no chunk ids left (0x7FFFFFFE is the last)");
        long end = _dataOffset + (_nextChunk + 1) * _chunkSize;
        if (end > _dataLength)
        {
            // add_storage_cmd is never run (fvd.md §5.4 item 6): storage grows by resizing the file.
            long grow = Math.Clamp(_h.StorageGrowUnit, _chunkSize, Math.Max(_chunkSize, MaxGrowStep));
            SetDataLength(Math.Max(end, _dataOffset + _nextChunk * _chunkSize + grow));
        }
        _table[c] = (uint)_nextChunk++;
        _tablePageDirty[c * 4 / FvdHeader.Page] = true;
        _metadataDirty = true;
    }

    /// <summary>Queues the journal sectors for one request's metadata change in the form of fvd.md §2.6.</summary>
    private void Record(long off, long end, bool bitmap, bool table)
    {
        _metadataDirty = true;
        if (_journalSectors == 0 || _checkpointDue) return; // the next flush writes a checkpoint
        long firstChunk = table ? off / _chunkSize : 0, chunks = table ? (end - 1) / _chunkSize - firstChunk + 1 : 0;
        int sectors = FvdJournal.SectorsFor(bitmap, table, chunks);
        if (_journalNext + _pendingSectors + sectors > _journalSectors)
        {
            _checkpointDue = true; // a checkpoint covers the queue too
            _pendingSectors = 0;
            return;
        }
        int need = (_pendingSectors + sectors) * FvdJournal.SectorSize;
        if (_pending.Length < need) Array.Resize(ref _pending, Math.Max(need, Math.Min(2 * _pending.Length + 4096, (int)_h.JournalSize)));
        var entries = table ? _table.AsSpan((int)firstChunk, (int)chunks) : default;
        FvdJournal.Encode(_pending.AsSpan(_pendingSectors * FvdJournal.SectorSize, sectors * FvdJournal.SectorSize),
            bitmap, off / FvdHeader.Sector, (end + FvdHeader.Sector - 1) / FvdHeader.Sector,
            (uint)firstChunk, entries, _chunkSize / FvdHeader.Sector);
        _pendingSectors += sectors;
    }

    // ---- flush, checkpoint, close ------------------------------------------------------------------------------

    /// <summary>Data, then the journal sectors that point at it (fvd.md §5.4 item 11).</summary>
    protected override void FlushCore()
    {
        if (!_writable) return;
        SyncData();
        if (_checkpointDue || (_journalSectors == 0 && _metadataDirty))
        {
            WriteCheckpoint();
            return;
        }
        AppendPendingJournal();
        if (!_metaUnsynced) return;
        SyncMeta();
        _metaUnsynced = false;
    }

    /// <summary>
    /// The end of every request that changed metadata: data synced, then its journal records appended without an
    /// fsync of the metadata file, so a killed process loses no completed write (docs/durability.md). Without room
    /// in the journal (or without a journal) the change can only be a checkpoint, which is a full flush.
    /// </summary>
    private void WriteThroughJournal()
    {
        if (_checkpointDue || (_journalSectors == 0 && _metadataDirty))
        {
            FlushCore();
            return;
        }
        if (_pendingSectors == 0) return;
        SyncData();
        AppendPendingJournal();
    }

    private void AppendPendingJournal()
    {
        if (_pendingSectors == 0) return;
        WriteMeta(_h.JournalOffset + _journalNext * FvdJournal.SectorSize, _pending.AsSpan(0, _pendingSectors * FvdJournal.SectorSize));
        _journalNext += _pendingSectors;
        _journalUsed = Math.Max(_journalUsed, _journalNext);
        _pendingSectors = 0;
        _metaUnsynced = true;
    }

    /// <summary>
    /// The recycle of fvd.md §2.6 with the barriers it lacked: data synced, changed bitmap and table pages written and
    /// synced, then the used journal sectors zeroed, so the next round starts in a clean region.
    /// </summary>
    private void WriteCheckpoint()
    {
        SyncData();
        // The table before the bitmap, synced in between: a bit set over a chunk the table does not have yet reads
        // zeroes in place of the base bytes a partial-block write copied up around itself (without a journal nothing
        // replays the table), while a chunk whose bits are not set yet only reads from the base as before the write.
        bool tableWritten = false;
        if (_h.CompactImage)
        {
            var page = new byte[FvdHeader.Page];
            for (int p = 0; p < _tablePageDirty.Length; p++)
            {
                if (!_tablePageDirty[p]) continue;
                int first = p * (FvdHeader.Page / 4), n = Math.Min(FvdHeader.Page / 4, _table.Length - first);
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(i * 4), _table[first + i]);
                WriteMeta(_h.TableOffset + (long)p * FvdHeader.Page, page.AsSpan(0, n * 4));
                _tablePageDirty[p] = false;
                tableWritten = true;
            }
        }
        if (tableWritten && Array.IndexOf(_bitmapPageDirty, true) >= 0) SyncMeta();
        WriteDirtyPages(_fresh, _bitmapPageDirty, _h.BitmapOffset);
        SyncMeta();
        if (_journalUsed > 0)
        {
            var zeros = new byte[(int)Math.Min(_journalUsed * FvdJournal.SectorSize, 1 << 20)];
            for (long p = 0; p < _journalUsed * FvdJournal.SectorSize; p += zeros.Length)
                WriteMeta(_h.JournalOffset + p, zeros.AsSpan(0, (int)Math.Min(zeros.Length, _journalUsed * FvdJournal.SectorSize - p)));
            SyncMeta();
        }
        _journalNext = 0;
        _journalUsed = 0;
        _pendingSectors = 0;
        _checkpointDue = false;
        _metadataDirty = false;
        if (!ReferenceEquals(_stale, _fresh)) Array.Copy(_fresh, _stale, _fresh.Length);
    }

    private void WriteDirtyPages(byte[] bm, bool[] dirty, long at)
    {
        for (int p = 0; p < dirty.Length; p++)
        {
            if (!dirty[p]) continue;
            int from = p * FvdHeader.Page;
            WriteMeta(at + from, bm.AsSpan(from, Math.Min(FvdHeader.Page, bm.Length - from)));
            dirty[p] = false;
        }
    }

    /// <summary>Rewrites only the header sector that holds clean_shutdown (fvd.md §5.4 item 3), then syncs.</summary>
    private void WriteCleanShutdown(bool clean)
    {
        _h.CleanShutdown = clean;
        var header = new byte[FvdHeader.Length];
        _h.WriteTo(header);
        int sector = FvdHeader.CleanShutdownOffset / FvdHeader.Sector * FvdHeader.Sector;
        WriteMeta(sector, header.AsSpan(sector, FvdHeader.Length - sector));
        SyncMeta();
    }

    protected override void Close()
    {
        try
        {
            if (_writable)
            {
                // Close: data, metadata, then the clean flag, each synced before the next (fvd.md §5.4 item 11).
                SyncData();
                if (_metadataDirty || _journalUsed > 0 || _checkpointDue) WriteCheckpoint();
                WriteCleanShutdown(true);
            }
        }
        finally
        {
            _backing?.Dispose();
            if (!ReferenceEquals(_data, _meta)) _data.Dispose();
            _meta.Dispose();
        }
    }
}
