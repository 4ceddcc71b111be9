using System.Buffers.Binary;
using System.Globalization;

namespace MiniVM.Block.Fvd;

/// <summary>The FVD format in the registry (fvd.md §2.1 probe, §3.1 create options).</summary>
public sealed partial class FvdFormat : IImageFormat
{
    public string Name => "fvd";

    public IReadOnlyList<CreateOptionSpec> CreateOptions { get; } =
    [
        new("backing_file", "base image (copy-on-write through a bitmap)"),
        new("backing_fmt", "format of the base image"),
        new("data_file", "separate raw file that holds the data"),
        new("data_file_fmt", "format of the data file (raw only)"),
        new("compact_image", "one-level table: storage allocated on demand (on/off)", "off"),
        new("block_size", "bytes per bitmap bit, a multiple of 512", "smallest 512 x 2^k giving a bitmap of at most 4M"),
        new("chunk_size", "table granularity, rounded up to 4K", "1M"),
        new("storage_grow_unit", "growth step of compact storage", "100M"),
        new("add_storage_cmd", "stored in the header only: MiniVM never runs it"),
        new("copy_on_read", "copy data read from the base image into this image (on/off)", "off"),
        new("prefetch_start_delay", "seconds; stored only (prefetching is not implemented)", "-1"),
        new("detect_sparse_hole", "mark all-zero base runs of at least this size as present (not with compact_image)", "0"),
        new("journal_size", "metadata journal size; negative disables it", "16M"),
    ];

    /// <summary>By magic alone: an unknown version must be refused by the header parser, not opened as raw (issue 11).</summary>
    public int Probe(ReadOnlySpan<byte> head, string fileName) =>
        head.Length >= 8 && BinaryPrimitives.ReadUInt32LittleEndian(head) == FvdHeader.Magic ? 100 : 0;

    public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context) =>
        FvdImage.Create(fileName, size, Parameters(options), context);

    private static FvdCreateParameters Parameters(ImageCreateOptions options)
    {
        string? backing = options.BackingFile ?? options.Get("backing_file");
        string? backingFmt = options.BackingFormat ?? options.Get("backing_fmt");
        string? journal = options.Get("journal_size");
        string? delay = options.Get("prefetch_start_delay");
        int delaySeconds = 0;
        if (delay is not null && !int.TryParse(delay, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out delaySeconds))
            throw new ImageFormatException($"prefetch_start_delay={delay}: expected a number of seconds");
        var p = new FvdCreateParameters
        {
            BackingFile = string.IsNullOrEmpty(backing) ? null : backing,
            BackingFormat = string.IsNullOrEmpty(backingFmt) ? null : backingFmt,
            DataFile = options.Get("data_file") is { Length: > 0 } df ? df : null,
            DataFileFormat = options.Get("data_file_fmt") is { Length: > 0 } dff ? dff : null,
            CompactImage = options.GetBool("compact_image", false),
            BlockSize = options.GetSize("block_size", 0),
            ChunkSize = options.GetSize("chunk_size", 0),
            StorageGrowUnit = options.GetSize("storage_grow_unit", 0),
            AddStorageCommand = options.Get("add_storage_cmd"),
            CopyOnRead = options.GetBool("copy_on_read", false),
            PrefetchStartDelay = delaySeconds,
            DetectSparseHole = options.GetSize("detect_sparse_hole", 0),
            JournalSize = journal is null ? 0 : journal.TrimStart().StartsWith('-') ? -1 : SizeParser.Parse(journal, "journal_size"),
        };
        return p;
    }

    public IBlockDriver Open(string fileName, ImageOpenContext context) => FvdImage.Open(fileName, context);
}
