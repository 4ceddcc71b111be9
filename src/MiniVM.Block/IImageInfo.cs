namespace MiniVM.Block;

/// <summary>Capability: format details that `img info` shows.</summary>
public interface IImageInfo
{
    /// <summary>Allocation granularity in bytes (0 when the format has none, like raw).</summary>
    long ClusterSize { get; }

    /// <summary>Host bytes used by every file of this layer (allocated blocks, not apparent size).</summary>
    long DiskUsage { get; }

    /// <summary>Every host file this layer consists of (meta, bitmaps, data, ...).</summary>
    IReadOnlyList<string> Files { get; }

    /// <summary>Format-specific lines for `img info` ("compat: 1.1", "copy_on_demand: false", ...).</summary>
    IReadOnlyList<KeyValuePair<string, string>> FormatSpecific { get; }
}

/// <summary>Capability: the format records whether the image was closed cleanly (qcow2's dirty bit; qemu-img's dirty-flag).</summary>
public interface IDirtyFlag
{
    /// <summary>True while metadata may be stale (the image was not closed cleanly, or is open now with lazy refcounts).</summary>
    bool IsDirty { get; }
}
