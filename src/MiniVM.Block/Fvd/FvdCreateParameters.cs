namespace MiniVM.Block.Fvd;

/// <summary>What `img create -f fvd -o ...` asks for (fvd.md §3.1); zero or null means "the default".</summary>
public sealed record FvdCreateParameters
{
    public string? BackingFile { get; init; }
    public string? BackingFormat { get; init; }
    public string? DataFile { get; init; }
    public string? DataFileFormat { get; init; }
    public bool CompactImage { get; init; }
    public long BlockSize { get; init; }
    public long ChunkSize { get; init; }
    public long StorageGrowUnit { get; init; }
    /// <summary>Stored as opaque data and never run (fvd.md §5.4 item 6).</summary>
    public string? AddStorageCommand { get; init; }
    public bool CopyOnRead { get; init; }
    /// <summary>Seconds; ≤ 0 is stored as −1 (disabled). Prefetching is not implemented, so the value is only kept.</summary>
    public int PrefetchStartDelay { get; init; }
    /// <summary>Minimum all-zero run of the base that is marked as already in the image; 0 = off.</summary>
    public long DetectSparseHole { get; init; }
    /// <summary>0 = default (16 MiB), negative = no journal.</summary>
    public long JournalSize { get; init; }
}
