namespace MiniVM.Block.Fvd;

/// <summary>Image creation with the layout rules of fvd.md §3.1 (so the golden layouts of §2.3 come out).</summary>
public sealed partial class FvdImage
{
    internal const long ModerateBitmapSize = 4L << 20;
    private const long MaxSparseHole = 64L << 20;

    public static FvdImage Create(string fileName, long size, FvdCreateParameters p, ImageOpenContext context)
    {
        if (size < 0) throw new ImageFormatException(fileName, $"size {size} is negative");
        if (p.DetectSparseHole > 0 && p.CompactImage)
            throw new ImageFormatException(fileName, "detect_sparse_hole cannot be combined with compact_image");
        if (p.DetectSparseHole > MaxSparseHole)
            throw new ImageFormatException(fileName, $"detect_sparse_hole {p.DetectSparseHole} is larger than {MaxSparseHole}");
        if (p.BackingFormat is not null && p.BackingFile is null)
            throw new ImageFormatException(fileName, "backing_fmt is given without a backing file");
        if (p.DataFileFormat is { Length: > 0 } dff && dff != "raw")
            throw new ImageFormatException(fileName, $"data_file_fmt {dff}: only raw data files are supported");
        var h = new FvdHeader
        {
            CleanShutdown = true,
            DataFile = p.DataFile ?? "",
            DataFileFormat = p.DataFile is null ? "" : p.DataFileFormat ?? "",
            AddStorageCommand = p.AddStorageCommand ?? "",
            AllDataInFvdImage = true,
        };
        byte[]? holes = null;
        if (p.BackingFile is { } backing)
        {
            // The base is opened by its own name and format (the original opened the data file here, fvd.md §5.4 item 1).
            using var b = context.OpenBacking(fileName, backing, p.BackingFormat);
            if (b.Size == 0) throw new ImageFormatException(fileName, $"base image {backing} is empty");
            if (size == 0) size = b.Size;
            size = FvdHeader.RoundUp(size, FvdHeader.Sector);
            h.BaseImage = backing;
            h.BaseImageFormat = p.BackingFormat ?? "";
            h.BaseImageSize = FvdHeader.RoundUp(Math.Min(size, b.Size), FvdHeader.Sector);
            long bs = p.BlockSize > 0 ? FvdHeader.RoundUp(p.BlockSize, FvdHeader.Sector) : 512;
            if (bs > int.MaxValue) throw new ImageFormatException(fileName, $"block_size {p.BlockSize} is too large");
            if (p.BlockSize <= 0)
                while ((FvdHeader.RoundUp(h.BaseImageSize, bs) / bs + 7) / 8 > ModerateBitmapSize) bs *= 2;
            h.BlockSize = (int)bs;
            h.AllDataInFvdImage = false;
            h.BitmapOffset = FvdHeader.RegionSize;
            h.BitmapSize = FvdHeader.RoundUp((h.BlockCount + 7) / 8, FvdHeader.Page);
            if (h.BitmapSize > FvdHeader.MaxInMemoryBytes)
                throw new ImageFormatException(fileName, $"block_size {bs} gives a {h.BitmapSize}-byte bitmap; choose a larger block size");
            h.CopyOnRead = p.CopyOnRead;
            h.MaxOutstandingCopyOnReadData = 2_000_000;
            h.PrefetchStartDelay = p.PrefetchStartDelay > 0 ? p.PrefetchStartDelay : -1;
            h.NumPrefetchSlots = 2;
            h.BytesPerPrefetch = (int)FvdHeader.RoundUp(1 << 20, bs);
            h.PrefetchReadThroughputMeasureTime = 100;
            h.PrefetchWriteThroughputMeasureTime = 100;
            h.PrefetchPerfCalcAlpha = 80;
            h.PrefetchMinReadThroughput = 5120;
            h.PrefetchMinWriteThroughput = 5120;
            h.PrefetchMaxReadThroughput = 1_000_000_000;
            h.PrefetchMaxWriteThroughput = 1_000_000_000;
            h.PrefetchThrottleTime = 30_000;
            h.UnitOfPrefetchProfileEntryLength = 4096;
            h.ProfileDirectedPrefetchStartDelay = -1;
            if (p.DetectSparseHole > 0)
            {
                holes = ScanSparseHoles(b, h, p.DetectSparseHole);
                h.NeedZeroInit = true;
            }
        }
        else size = FvdHeader.RoundUp(size, FvdHeader.Sector);
        if (size == 0) throw new ImageFormatException(fileName, "size must be given (and positive) when there is no backing file");
        h.VirtualDiskSize = size;

        if (p.CompactImage)
        {
            h.CompactImage = true;
            h.ChunkSize = FvdHeader.RoundUp(p.ChunkSize > 0 ? p.ChunkSize : 1 << 20, FvdHeader.Page);
            if (h.ChunkSize > 1L << 30) throw new ImageFormatException(fileName, $"chunk_size {p.ChunkSize} is larger than 1G");
            h.StorageGrowUnit = Math.Max(p.StorageGrowUnit > 0 ? p.StorageGrowUnit : 100L << 20, h.ChunkSize);
            h.TableOffset = FvdHeader.RegionSize + h.BitmapSize;
            if (h.TableSize > FvdHeader.MaxInMemoryBytes)
                throw new ImageFormatException(fileName, $"chunk_size {h.ChunkSize} gives a {h.TableSize}-byte table; choose a larger chunk size");
        }
        long journal = p.JournalSize < 0 ? p.JournalSize : p.JournalSize == 0 ? 16L << 20 : p.JournalSize;
        if ((h.HasBitmap || h.CompactImage) && journal > 0)
        {
            long min = (h.ChunkCount + FvdJournal.MixedEntries - 1) / FvdJournal.MixedEntries * FvdJournal.SectorSize;
            journal = FvdHeader.RoundUp(Math.Max(journal, min), FvdHeader.Page);
            if (journal > FvdHeader.MaxInMemoryBytes) throw new ImageFormatException(fileName, $"journal_size {journal} is larger than 1G");
            h.JournalOffset = FvdHeader.RegionSize + h.BitmapSize + h.TableSize;
            h.JournalSize = journal;
        }
        else if (p.JournalSize == 0) journal = 0;
        // metadata_size adds a positive journal_size option even when no journal is written (fvd.md §3.1 step 6 quirk).
        h.MetadataSize = FvdHeader.RegionSize + h.BitmapSize + h.TableSize + Math.Max(0, journal);

        string? dataPath = null;
        if (h.DataFile.Length > 0)
        {
            dataPath = ImagePaths.ResolveStoredName(fileName, h.DataFile, context.AllowUnsafePaths, "data file");
            if (Path.GetFullPath(dataPath) == Path.GetFullPath(fileName) || h.DataFile == h.BaseImage)
                throw new ImageFormatException(fileName, $"data_file {h.DataFile} names the image itself or its base image");
        }
        var header = new byte[FvdHeader.RegionSize];
        h.WriteTo(header);
        using (var f = HostFile.OpenHandle(fileName, true, FileMode.Create))
        {
            try
            {
                RandomAccess.SetLength(f, h.MetadataSize);
                RandomAccess.Write(f, header, 0);
                if (holes is not null) RandomAccess.Write(f, holes, h.BitmapOffset);
                if (h.CompactImage)
                {
                    var table = new byte[h.TableSize];
                    Array.Fill(table, (byte)0xFF); // every entry EMPTY (fvd.md §2.5)
                    RandomAccess.Write(f, table, h.TableOffset);
                }
                RandomAccess.FlushToDisk(f);
            }
            catch (IOException e) { throw new ImageFormatException(fileName, $"cannot create: {e.Message}"); }
        }
        if (dataPath is not null)
            using (HostFile.OpenHandle(dataPath, true, FileMode.Create)) { }
        return Open(fileName, context.AsReadWrite());
    }

    /// <summary>
    /// The sparse-hole scan of fvd.md §3.1 step 8: base pieces that are all zero are marked as already in the image, so
    /// writes there need no copy-on-write. Unlike the original it also scans the tail (fvd.md §5.4 item 2).
    /// </summary>
    private static byte[] ScanSparseHoles(IBlockDriver b, FvdHeader h, long holeSize)
    {
        long hole = FvdHeader.RoundUp(Math.Max(holeSize, h.BlockSize), h.BlockSize);
        var bitmap = new byte[(h.BlockCount + 7) / 8];
        var buf = new byte[hole];
        for (long off = 0; off < h.BaseImageSize; off += hole)
        {
            long n = Math.Min(hole, h.BaseImageSize - off);
            int fromBase = (int)Math.Clamp(b.Size - off, 0, n);
            b.Read(off, buf.AsSpan(0, fromBase));
            if (buf.AsSpan(0, fromBase).IndexOfAnyExcept((byte)0) >= 0) continue;
            for (long blk = off / h.BlockSize; blk <= (off + n - 1) / h.BlockSize; blk++) SetBit(bitmap, blk);
        }
        return bitmap;
    }
}
