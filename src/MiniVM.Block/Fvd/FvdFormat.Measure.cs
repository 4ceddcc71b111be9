namespace MiniVM.Block.Fvd;

/// <summary>
/// `img measure -O fvd` (fvd.md §2.3, §3.1): the metadata area (header region, bitmap, table, journal, as create lays
/// them out) plus the data. A plain image stores the disk at metadata_size + offset (or at offset in data_file); a
/// compact one allocates chunk_size chunks in write order and grows its storage by storage_grow_unit at a time, so a
/// fully written compact image is as long as its last growth step made it. With backing_file the base's size is not
/// known here: it is taken to be the disk's (the largest bitmap), so the figures are an upper bound.
/// </summary>
public sealed partial class FvdFormat : IMeasurableFormat
{
    public ImageMeasure Measure(long virtualSize, ImageCreateOptions options, Func<long, long>? dataBytes)
    {
        var p = Parameters(options);
        long size = FvdHeader.RoundUp(virtualSize, FvdHeader.Sector);
        if (size <= 0) throw new ImageFormatException($"size {virtualSize} must be positive");
        var h = new FvdHeader { VirtualDiskSize = size, AllDataInFvdImage = p.BackingFile is null };
        if (p.BackingFile is not null)
        {
            h.BaseImageSize = size;
            long bs = p.BlockSize > 0 ? FvdHeader.RoundUp(p.BlockSize, FvdHeader.Sector) : 512;
            if (p.BlockSize <= 0)
                while ((FvdHeader.RoundUp(size, bs) / bs + 7) / 8 > FvdImage.ModerateBitmapSize) bs *= 2;
            h.BlockSize = (int)Math.Min(bs, int.MaxValue);
            h.BitmapSize = FvdHeader.RoundUp((h.BlockCount + 7) / 8, FvdHeader.Page);
        }
        long chunk = 0, grow = 0;
        if (p.CompactImage)
        {
            h.CompactImage = true;
            h.ChunkSize = chunk = FvdHeader.RoundUp(p.ChunkSize > 0 ? p.ChunkSize : 1 << 20, FvdHeader.Page);
            if (chunk > 1L << 30) throw new ImageFormatException($"chunk_size {p.ChunkSize} is larger than 1G");
            long unit = Math.Max(p.StorageGrowUnit > 0 ? p.StorageGrowUnit : 100L << 20, chunk);
            grow = Math.Clamp(unit, chunk, Math.Max(chunk, FvdImage.MaxGrowStep));
        }
        long journal = p.JournalSize < 0 ? 0 : p.JournalSize == 0 ? 16L << 20 : p.JournalSize;
        if (h.HasBitmap || h.CompactImage)
        {
            long min = (h.ChunkCount + FvdJournal.MixedEntries - 1) / FvdJournal.MixedEntries * FvdJournal.SectorSize;
            if (journal > 0) journal = FvdHeader.RoundUp(Math.Max(journal, min), FvdHeader.Page);
        }
        else if (p.JournalSize == 0) journal = 0; // metadata_size still counts a journal_size given (§3.1 step 6 quirk)
        long metadata = FvdHeader.RegionSize + h.BitmapSize + h.TableSize + journal;
        bool separate = p.DataFile is not null;
        long dataOffset = separate ? 0 : metadata;

        if (!p.CompactImage)
        {
            long data = Math.Min(dataBytes?.Invoke(FvdHeader.Sector) ?? 0, size);
            return new ImageMeasure(metadata + data, metadata + size);
        }
        long chunks = h.ChunkCount, used = Math.Min(dataBytes?.Invoke(chunk) ?? 0, chunks * chunk) / chunk;
        return new ImageMeasure(metadata + used * chunk, (separate ? metadata : 0) + StorageEnd(chunks, chunk, grow, dataOffset));
    }

    /// <summary>
    /// The data storage's length once <paramref name="chunks"/> chunks are allocated (FvdImage.Allocate): chunk j
    /// grows it when it would end past the storage, to the chunk's start plus <paramref name="grow"/> bytes, which
    /// happens for j = 0, k, 2k, … with k = grow / chunk.
    /// </summary>
    private static long StorageEnd(long chunks, long chunk, long grow, long dataOffset)
    {
        if (chunks == 0) return dataOffset;
        long k = grow / chunk, last = (chunks - 1) / k * k;
        return Math.Max(dataOffset + last * chunk + grow, dataOffset + chunks * chunk);
    }
}
