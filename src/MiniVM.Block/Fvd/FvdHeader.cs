using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Fvd;

/// <summary>
/// The packed, little-endian version 1 FvdHeader (fvd.md §2.2): 4336 bytes inside an 8192-byte header region.
/// Every field is kept, including the reserved prefetch fields and add_storage_cmd, which is opaque data that is
/// never run (fvd.md §5.2, §5.4 item 6). <see cref="Parse"/> checks the geometry against the file (fvd.md §5.3), so
/// a value of this type always describes regions that lie inside the file and do not overlap.
/// </summary>
public sealed class FvdHeader
{
    public const uint Magic = 0x5143F5A9;
    public const uint Version = 1;
    public const int Length = 4336;
    /// <summary>ROUND_UP(4336, 4096): the region create reserves for the header.</summary>
    public const int RegionSize = 8192;
    public const int Page = 4096;
    public const int Sector = 512;
    public const int NameField = 1024;
    public const int FormatField = 16;
    public const int CommandField = 2048;
    /// <summary>Offset of clean_shutdown, in the header's sector 8 (fvd.md §5.4 item 3: rewrite only that sector).</summary>
    public const int CleanShutdownOffset = 4300;
    /// <summary>Bitmaps and tables are held in memory: 1 GiB each is far past any real disk (a 1 TiB base needs 4 MiB).</summary>
    public const long MaxInMemoryBytes = 1L << 30;

    public bool AllDataInFvdImage { get; set; }
    public long VirtualDiskSize { get; set; }
    public long MetadataSize { get; set; }
    public string BaseImage { get; set; } = "";
    public string BaseImageFormat { get; set; } = "";
    public long BaseImageSize { get; set; }
    public long BitmapOffset { get; set; }
    public long BitmapSize { get; set; }
    public int BlockSize { get; set; }
    public bool CopyOnRead { get; set; }
    public long MaxOutstandingCopyOnReadData { get; set; }
    public string DataFile { get; set; } = "";
    public string DataFileFormat { get; set; } = "";
    public int PrefetchStartDelay { get; set; }
    public long PrefetchProfileOffset { get; set; }
    public long PrefetchProfileEntries { get; set; }
    public int NumPrefetchSlots { get; set; }
    public int BytesPerPrefetch { get; set; }
    public int PrefetchReadThroughputMeasureTime { get; set; }
    public int PrefetchWriteThroughputMeasureTime { get; set; }
    public int PrefetchPerfCalcAlpha { get; set; }
    public int PrefetchMinReadThroughput { get; set; }
    public int PrefetchMinWriteThroughput { get; set; }
    public int PrefetchMaxReadThroughput { get; set; }
    public int PrefetchMaxWriteThroughput { get; set; }
    public int PrefetchThrottleTime { get; set; }
    public bool CompactImage { get; set; }
    public long TableOffset { get; set; }
    public long ChunkSize { get; set; }
    public long StorageGrowUnit { get; set; }
    /// <summary>Kept byte for byte and shown by info; never executed (fvd.md §5.4 item 6).</summary>
    public string AddStorageCommand { get; set; } = "";
    public long JournalOffset { get; set; }
    public long JournalSize { get; set; }
    public bool CleanShutdown { get; set; }
    public bool NeedZeroInit { get; set; }
    public bool GeneratePrefetchProfile { get; set; }
    public int UnitOfPrefetchProfileEntryLength { get; set; }
    public int ProfileDirectedPrefetchStartDelay { get; set; }
    public string WriteUpdatesBaseImage { get; set; } = "";

    public bool HasBitmap => !AllDataInFvdImage;

    /// <summary>Bitmap bits in use: ceil(base_img_size / block_size) (fvd.md §2.4).</summary>
    public long BlockCount => HasBitmap ? (BaseImageSize + BlockSize - 1) / BlockSize : 0;

    /// <summary>Table entries: ceil(virtual_disk_size / chunk_size) (fvd.md §2.5).</summary>
    public long ChunkCount => CompactImage ? (VirtualDiskSize + ChunkSize - 1) / ChunkSize : 0;

    /// <summary>table_size is not stored: ROUND_UP(4 × entries, 4096) (fvd.md §2.3).</summary>
    public long TableSize => CompactImage ? RoundUp(4 * ChunkCount, Page) : 0;

    /// <summary>Where guest data starts: metadata_size in this file, 0 in a separate data file (fvd.md §2.3).</summary>
    public long DataOffset => DataFile.Length > 0 ? 0 : MetadataSize;

    public static long RoundUp(long v, long unit) => (v + unit - 1) / unit * unit;

    public void WriteTo(Span<byte> dst)
    {
        if (dst.Length < Length) throw new ArgumentException("buffer shorter than the FVD header", nameof(dst));
        dst[..Length].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(dst[8..], AllDataInFvdImage ? 1 : 0);
        BinaryPrimitives.WriteInt64LittleEndian(dst[12..], VirtualDiskSize);
        BinaryPrimitives.WriteInt64LittleEndian(dst[20..], MetadataSize);
        PutString(dst.Slice(28, NameField), BaseImage, "base_img");
        PutString(dst.Slice(1052, FormatField), BaseImageFormat, "base_img_fmt");
        BinaryPrimitives.WriteInt64LittleEndian(dst[1068..], BaseImageSize);
        BinaryPrimitives.WriteInt64LittleEndian(dst[1076..], BitmapOffset);
        BinaryPrimitives.WriteInt64LittleEndian(dst[1084..], BitmapSize);
        BinaryPrimitives.WriteInt32LittleEndian(dst[1092..], BlockSize);
        BinaryPrimitives.WriteInt32LittleEndian(dst[1096..], CopyOnRead ? 1 : 0);
        BinaryPrimitives.WriteInt64LittleEndian(dst[1100..], MaxOutstandingCopyOnReadData);
        PutString(dst.Slice(1108, NameField), DataFile, "data_file");
        PutString(dst.Slice(2132, FormatField), DataFileFormat, "data_file_fmt");
        BinaryPrimitives.WriteInt32LittleEndian(dst[2148..], PrefetchStartDelay);
        BinaryPrimitives.WriteInt64LittleEndian(dst[2152..], PrefetchProfileOffset);
        BinaryPrimitives.WriteInt64LittleEndian(dst[2160..], PrefetchProfileEntries);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2168..], NumPrefetchSlots);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2172..], BytesPerPrefetch);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2176..], PrefetchReadThroughputMeasureTime);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2180..], PrefetchWriteThroughputMeasureTime);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2184..], PrefetchPerfCalcAlpha);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2188..], PrefetchMinReadThroughput);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2192..], PrefetchMinWriteThroughput);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2196..], PrefetchMaxReadThroughput);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2200..], PrefetchMaxWriteThroughput);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2204..], PrefetchThrottleTime);
        BinaryPrimitives.WriteInt32LittleEndian(dst[2208..], CompactImage ? 1 : 0);
        BinaryPrimitives.WriteInt64LittleEndian(dst[2212..], TableOffset);
        BinaryPrimitives.WriteInt64LittleEndian(dst[2220..], ChunkSize);
        BinaryPrimitives.WriteInt64LittleEndian(dst[2228..], StorageGrowUnit);
        PutString(dst.Slice(2236, CommandField), AddStorageCommand, "add_storage_cmd");
        BinaryPrimitives.WriteInt64LittleEndian(dst[4284..], JournalOffset);
        BinaryPrimitives.WriteInt64LittleEndian(dst[4292..], JournalSize);
        BinaryPrimitives.WriteInt32LittleEndian(dst[4300..], CleanShutdown ? 1 : 0);
        BinaryPrimitives.WriteInt32LittleEndian(dst[4304..], NeedZeroInit ? 1 : 0);
        BinaryPrimitives.WriteInt32LittleEndian(dst[4308..], GeneratePrefetchProfile ? 1 : 0);
        BinaryPrimitives.WriteInt32LittleEndian(dst[4312..], UnitOfPrefetchProfileEntryLength);
        BinaryPrimitives.WriteInt32LittleEndian(dst[4316..], ProfileDirectedPrefetchStartDelay);
        PutString(dst.Slice(4320, FormatField), WriteUpdatesBaseImage, "write_updates_base_img");
    }

    /// <summary>Strings are NUL-padded and must leave room for the terminator (fvd.md §2.1, §5.4 item 5).</summary>
    private static void PutString(Span<byte> field, string value, string name)
    {
        int n = Encoding.UTF8.GetByteCount(value);
        if (n >= field.Length)
            throw ImageFormatException.BadField(null, name, value, $"longer than {field.Length - 1} bytes");
        if (value.Contains('\0')) throw ImageFormatException.BadField(null, name, value, "contains a NUL byte");
        Encoding.UTF8.GetBytes(value, field);
    }

    /// <summary>Parses and validates the header; <paramref name="fileLength"/> is the length of the metadata file.</summary>
    public static FvdHeader Parse(ReadOnlySpan<byte> b, long fileLength, string? fileName)
    {
        if (b.Length < Length)
            throw new ImageFormatException(fileName, $"file is {b.Length} bytes, too short for the {Length}-byte FVD header");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(b);
        if (magic != Magic) throw ImageFormatException.BadField(fileName, "magic", $"0x{magic:X8}", "not an FVD image");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        if (version != Version) throw ImageFormatException.BadField(fileName, "version", version, "only FVD version 1 is supported");
        var h = new FvdHeader
        {
            AllDataInFvdImage = Bool(b, 8, "all_data_in_fvd_img", fileName),
            VirtualDiskSize = BinaryPrimitives.ReadInt64LittleEndian(b[12..]),
            MetadataSize = BinaryPrimitives.ReadInt64LittleEndian(b[20..]),
            BaseImage = Str(b.Slice(28, NameField), "base_img", fileName),
            BaseImageFormat = Str(b.Slice(1052, FormatField), "base_img_fmt", fileName),
            BaseImageSize = BinaryPrimitives.ReadInt64LittleEndian(b[1068..]),
            BitmapOffset = BinaryPrimitives.ReadInt64LittleEndian(b[1076..]),
            BitmapSize = BinaryPrimitives.ReadInt64LittleEndian(b[1084..]),
            BlockSize = BinaryPrimitives.ReadInt32LittleEndian(b[1092..]),
            CopyOnRead = Bool(b, 1096, "copy_on_read", fileName),
            MaxOutstandingCopyOnReadData = BinaryPrimitives.ReadInt64LittleEndian(b[1100..]),
            DataFile = Str(b.Slice(1108, NameField), "data_file", fileName),
            DataFileFormat = Str(b.Slice(2132, FormatField), "data_file_fmt", fileName),
            PrefetchStartDelay = BinaryPrimitives.ReadInt32LittleEndian(b[2148..]),
            PrefetchProfileOffset = BinaryPrimitives.ReadInt64LittleEndian(b[2152..]),
            PrefetchProfileEntries = BinaryPrimitives.ReadInt64LittleEndian(b[2160..]),
            NumPrefetchSlots = BinaryPrimitives.ReadInt32LittleEndian(b[2168..]),
            BytesPerPrefetch = BinaryPrimitives.ReadInt32LittleEndian(b[2172..]),
            PrefetchReadThroughputMeasureTime = BinaryPrimitives.ReadInt32LittleEndian(b[2176..]),
            PrefetchWriteThroughputMeasureTime = BinaryPrimitives.ReadInt32LittleEndian(b[2180..]),
            PrefetchPerfCalcAlpha = BinaryPrimitives.ReadInt32LittleEndian(b[2184..]),
            PrefetchMinReadThroughput = BinaryPrimitives.ReadInt32LittleEndian(b[2188..]),
            PrefetchMinWriteThroughput = BinaryPrimitives.ReadInt32LittleEndian(b[2192..]),
            PrefetchMaxReadThroughput = BinaryPrimitives.ReadInt32LittleEndian(b[2196..]),
            PrefetchMaxWriteThroughput = BinaryPrimitives.ReadInt32LittleEndian(b[2200..]),
            PrefetchThrottleTime = BinaryPrimitives.ReadInt32LittleEndian(b[2204..]),
            CompactImage = Bool(b, 2208, "compact_image", fileName),
            TableOffset = BinaryPrimitives.ReadInt64LittleEndian(b[2212..]),
            ChunkSize = BinaryPrimitives.ReadInt64LittleEndian(b[2220..]),
            StorageGrowUnit = BinaryPrimitives.ReadInt64LittleEndian(b[2228..]),
            AddStorageCommand = Str(b.Slice(2236, CommandField), "add_storage_cmd", fileName),
            JournalOffset = BinaryPrimitives.ReadInt64LittleEndian(b[4284..]),
            JournalSize = BinaryPrimitives.ReadInt64LittleEndian(b[4292..]),
            CleanShutdown = Bool(b, 4300, "clean_shutdown", fileName),
            NeedZeroInit = Bool(b, 4304, "need_zero_init", fileName),
            GeneratePrefetchProfile = BinaryPrimitives.ReadInt32LittleEndian(b[4308..]) != 0,
            UnitOfPrefetchProfileEntryLength = BinaryPrimitives.ReadInt32LittleEndian(b[4312..]),
            ProfileDirectedPrefetchStartDelay = BinaryPrimitives.ReadInt32LittleEndian(b[4316..]),
            WriteUpdatesBaseImage = Str(b.Slice(4320, FormatField), "write_updates_base_img", fileName),
        };
        h.Validate(fileLength, fileName);
        return h;
    }

    /// <summary>C booleans: the original writes 0 or 1 (TRUE); anything else means the field was damaged.</summary>
    private static bool Bool(ReadOnlySpan<byte> b, int at, string name, string? fileName)
    {
        int v = BinaryPrimitives.ReadInt32LittleEndian(b[at..]);
        if (v is not (0 or 1)) throw ImageFormatException.BadField(fileName, name, v, "must be 0 or 1");
        return v == 1;
    }

    private static string Str(ReadOnlySpan<byte> field, string name, string? fileName)
    {
        int z = field.IndexOf((byte)0);
        if (z < 0) throw ImageFormatException.BadField(fileName, name, "(unterminated)", $"no NUL terminator within its {field.Length} bytes");
        if (field[z..].IndexOfAnyExcept((byte)0) >= 0)
            throw ImageFormatException.BadField(fileName, name, Encoding.UTF8.GetString(field[..z]), "bytes after the NUL terminator are not zero");
        return Encoding.UTF8.GetString(field[..z]);
    }

    /// <summary>The hardening checklist of fvd.md §5.3.</summary>
    private void Validate(long fileLength, string? f)
    {
        if (VirtualDiskSize <= 0 || VirtualDiskSize % Sector != 0 || VirtualDiskSize > long.MaxValue / 4)
            throw ImageFormatException.BadField(f, "virtual_disk_size", VirtualDiskSize, "must be a positive multiple of 512");
        bool sameFile = DataFile.Length == 0;
        if (!sameFile && DataFileFormat.Length > 0 && DataFileFormat != "raw")
            throw ImageFormatException.BadField(f, "data_file_fmt", DataFileFormat, "only a raw data file is supported");
        if (sameFile && DataFileFormat.Length > 0)
            throw ImageFormatException.BadField(f, "data_file_fmt", DataFileFormat, "set but data_file is empty");
        if (MetadataSize < RegionSize || MetadataSize % Page != 0)
            throw ImageFormatException.BadField(f, "metadata_size", MetadataSize, "must be a multiple of 4096 and at least 8192");
        if (sameFile && MetadataSize > long.MaxValue / 2)
            throw ImageFormatException.BadField(f, "metadata_size", MetadataSize, "too large");

        var regions = new List<(string Name, long Offset, long Size)> { ("header", 0, RegionSize) };
        if (HasBitmap)
        {
            if (BaseImage.Length == 0)
                throw ImageFormatException.BadField(f, "all_data_in_fvd_img", 0, "data is said to be in a base image, but base_img is empty");
            if (BlockSize <= 0 || BlockSize % Sector != 0)
                throw ImageFormatException.BadField(f, "block_size", BlockSize, "must be a positive multiple of 512");
            if (BaseImageSize <= 0 || BaseImageSize % Sector != 0 || BaseImageSize > VirtualDiskSize)
                throw ImageFormatException.BadField(f, "base_img_size", BaseImageSize, $"must be a positive multiple of 512 no larger than the disk ({VirtualDiskSize})");
            long need = (BlockCount + 7) / 8;
            if (need > MaxInMemoryBytes)
                throw ImageFormatException.BadField(f, "block_size", BlockSize, $"gives a {need}-byte bitmap, more than {MaxInMemoryBytes}");
            if (BitmapSize < need || BitmapSize % Page != 0)
                throw ImageFormatException.BadField(f, "bitmap_size", BitmapSize, $"must be a multiple of 4096 holding at least {need} bytes");
            regions.Add(("bitmap", CheckOffset(BitmapOffset, "bitmap_offset", f), BitmapSize));
        }
        if (CompactImage)
        {
            if (ChunkSize <= 0 || ChunkSize % Sector != 0 || ChunkSize > 1L << 30)
                throw ImageFormatException.BadField(f, "chunk_size", ChunkSize, "must be a positive multiple of 512");
            if (ChunkCount > int.MaxValue / 4 || 4 * ChunkCount > MaxInMemoryBytes)
                throw ImageFormatException.BadField(f, "chunk_size", ChunkSize, $"gives {ChunkCount} table entries, too many");
            if (StorageGrowUnit < 0)
                throw ImageFormatException.BadField(f, "storage_grow_unit", StorageGrowUnit, "must not be negative");
            regions.Add(("table", CheckOffset(TableOffset, "table_offset", f), TableSize));
        }
        if (JournalSize != 0)
        {
            if (JournalSize < 0 || JournalSize % Sector != 0 || JournalSize > MaxInMemoryBytes)
                throw ImageFormatException.BadField(f, "journal_size", JournalSize, "must be a multiple of 512 no larger than 1 GiB");
            regions.Add(("journal", CheckOffset(JournalOffset, "journal_offset", f), JournalSize));
        }
        foreach (var (name, offset, size) in regions)
        {
            if (offset > long.MaxValue / 2 - size)
                throw ImageFormatException.BadField(f, name + "_offset", offset, "too large");
            if (offset + size > fileLength)
                throw ImageFormatException.BadField(f, name == "header" ? "file length" : name + "_offset", name == "header" ? fileLength : offset,
                    $"the {name} ({size} bytes at {offset}) runs past the end of the {fileLength}-byte file");
            if (sameFile && offset + size > MetadataSize)
                throw ImageFormatException.BadField(f, "metadata_size", MetadataSize, $"ends inside the {name}, which would overlap the data area");
        }
        for (int i = 0; i < regions.Count; i++)
            for (int j = i + 1; j < regions.Count; j++)
            {
                var (n1, o1, s1) = regions[i];
                var (n2, o2, s2) = regions[j];
                if (o1 < o2 + s2 && o2 < o1 + s1)
                    throw ImageFormatException.BadField(f, n2 + "_offset", o2, $"the {n2} overlaps the {n1}");
            }
    }

    private static long CheckOffset(long offset, string name, string? f)
    {
        if (offset < RegionSize || offset % Page != 0)
            throw ImageFormatException.BadField(f, name, offset, "must be a multiple of 4096 past the 8192-byte header");
        return offset;
    }
}
