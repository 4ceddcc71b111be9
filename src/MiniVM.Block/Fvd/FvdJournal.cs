using System.Buffers.Binary;

namespace MiniVM.Block.Fvd;

/// <summary>
/// The journal's on-disk records (fvd.md §2.6): self-contained 512-byte sectors, each a sequence of BITMAP and TABLE
/// records ended by a u32 0 or by the end of the sector. This type only encodes and decodes; the image decides what a
/// record means for its bitmap and table.
/// </summary>
public static class FvdJournal
{
    public const uint EmptyRecord = 0;
    public const uint BitmapRecord = 0x3F2AB8ED;
    public const uint TableRecord = 0xB4E6F7AC;
    public const int SectorSize = 512;
    public const int BitmapRecordSize = 16;
    public const int TableHeaderSize = 12;
    /// <summary>12 + 125 × 4 = 512: a table-only sector is exactly full.</summary>
    public const int TableOnlyEntries = 125;
    /// <summary>12 + 121 × 4 + 16 = 512: a mixed sector is exactly full.</summary>
    public const int MixedEntries = 121;

    /// <summary>Sectors one request's metadata update takes in the form §2.6 prescribes.</summary>
    public static int SectorsFor(bool bitmap, bool table, long chunks) =>
        !table ? (bitmap ? 1 : 0) : (int)((chunks + (bitmap ? MixedEntries : TableOnlyEntries) - 1) / (bitmap ? MixedEntries : TableOnlyEntries));

    /// <summary>
    /// Encodes one request's update into <paramref name="dst"/> (SectorsFor(...) × 512 bytes, cleared here).
    /// The bitmap range is [<paramref name="firstSector"/>, <paramref name="endSector"/>) in 512-byte sectors;
    /// <paramref name="entries"/> are the table entries of chunks firstChunk… (empty for bitmap only).
    /// </summary>
    public static void Encode(Span<byte> dst, bool bitmap, long firstSector, long endSector,
        uint firstChunk, ReadOnlySpan<uint> entries, long chunkSectors)
    {
        dst.Clear();
        if (entries.Length == 0)
        {
            if (!bitmap) return;
            PutBitmap(dst, firstSector, endSector);
            return;
        }
        int per = bitmap ? MixedEntries : TableOnlyEntries;
        int sectors = (entries.Length + per - 1) / per;
        for (int s = 0; s < sectors; s++)
        {
            var sector = dst.Slice(s * SectorSize, SectorSize);
            int first = s * per, n = Math.Min(per, entries.Length - first);
            BinaryPrimitives.WriteUInt32LittleEndian(sector, TableRecord);
            BinaryPrimitives.WriteUInt32LittleEndian(sector[4..], firstChunk + (uint)first);
            BinaryPrimitives.WriteUInt32LittleEndian(sector[8..], (uint)n);
            for (int i = 0; i < n; i++)
                BinaryPrimitives.WriteUInt32LittleEndian(sector[(TableHeaderSize + 4 * i)..], entries[first + i]);
            if (!bitmap) continue;
            // The same data range rides in the same sector, so both halves become durable together (§2.6 form 3).
            long from = s == 0 ? firstSector : (firstChunk + (long)first) * chunkSectors;
            long to = s == sectors - 1 ? endSector : (firstChunk + (long)first + n) * chunkSectors;
            PutBitmap(sector[(TableHeaderSize + 4 * n)..], from, to);
        }
    }

    private static void PutBitmap(Span<byte> at, long from, long to)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(at, BitmapRecord);
        BinaryPrimitives.WriteUInt32LittleEndian(at[4..], (uint)(to - from));
        BinaryPrimitives.WriteInt64LittleEndian(at[8..], from);
    }

    /// <summary>One decoded record; for a table record the entries are at <see cref="EntriesOffset"/> in the sector.</summary>
    public readonly record struct Record(uint Type, long SectorNum, uint SectorCount, uint FirstChunk, uint Count, int EntriesOffset);

    /// <summary>
    /// Decodes the records of one sector into <paramref name="into"/>. Returns false when the sector holds no record
    /// (it starts with EMPTY or with an unknown type): in this journal such a sector ends the current round.
    /// A record that overruns the sector is corruption.
    /// </summary>
    public static bool Decode(ReadOnlySpan<byte> sector, long sectorIndex, string fileName, List<Record> into)
    {
        into.Clear();
        int pos = 0;
        while (pos + 4 <= SectorSize)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(sector[pos..]);
            if (type == BitmapRecord)
            {
                if (pos + BitmapRecordSize > SectorSize)
                    throw new ImageFormatException(fileName, $"journal sector {sectorIndex}: bitmap record at byte {pos} overruns the sector");
                into.Add(new Record(type, BinaryPrimitives.ReadInt64LittleEndian(sector[(pos + 8)..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(sector[(pos + 4)..]), 0, 0, 0));
                pos += BitmapRecordSize;
            }
            else if (type == TableRecord)
            {
                if (pos + TableHeaderSize > SectorSize)
                    throw new ImageFormatException(fileName, $"journal sector {sectorIndex}: table record at byte {pos} overruns the sector");
                uint first = BinaryPrimitives.ReadUInt32LittleEndian(sector[(pos + 4)..]);
                uint count = BinaryPrimitives.ReadUInt32LittleEndian(sector[(pos + 8)..]);
                if (count > (SectorSize - pos - TableHeaderSize) / 4)
                    throw new ImageFormatException(fileName, $"journal sector {sectorIndex}: table record count {count} at byte {pos} overruns the sector");
                into.Add(new Record(type, 0, 0, first, count, pos + TableHeaderSize));
                pos += TableHeaderSize + 4 * (int)count;
            }
            else break; // EMPTY, or a type the original also treats as the end of the sector
        }
        return into.Count > 0;
    }
}
