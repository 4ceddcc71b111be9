namespace MiniVM.Block.Irow;

/// <summary>What `img create -f irow -o ...` asks for (irow.md §5.1).</summary>
/// <param name="ClusterBits">log2 of the cluster size, 9..21 (default 64 KiB).</param>
/// <param name="CopyOnDemand">Copy clusters read from older states or the backing file into the current state.</param>
/// <param name="BackingFile">Backing image as the user named it (relative names are relative to the new image).</param>
/// <param name="BackingFormat">Expected format of the backing image; iROW cannot store it, so it is checked against the probe.</param>
/// <param name="Now">Creation time, which names the first state's files (§3); the wall clock when null.</param>
public sealed record IrowCreateParameters(
    int ClusterBits = 16,
    bool CopyOnDemand = false,
    string? BackingFile = null,
    string? BackingFormat = null,
    DateTimeOffset? Now = null);
