namespace MiniVM.Block;

/// <summary>What `img check -r` may repair, as in qemu-img.</summary>
public enum RepairMode { None, Leaks, All }

/// <summary>Result of a consistency check. Exit codes follow qemu-img: 0 clean, 2 corruption, 3 leaks only.</summary>
public sealed class CheckResult
{
    public int Corruptions { get; set; }
    public int Leaks { get; set; }
    public int CorruptionsFixed { get; set; }
    public int LeaksFixed { get; set; }
    /// <summary>Clusters in use / total, when the format knows them.</summary>
    public long AllocatedClusters { get; set; }
    public long TotalClusters { get; set; }
    /// <summary>Allocated clusters whose host offset does not follow the previous one's (qemu-img's "fragmented").</summary>
    public long FragmentedClusters { get; set; }
    /// <summary>Allocated clusters stored compressed.</summary>
    public long CompressedClusters { get; set; }
    /// <summary>End of the highest host cluster in use (0 when the format does not say); qemu-img's image-end-offset.</summary>
    public long ImageEndOffset { get; set; }
    /// <summary>One line each, naming what is wrong and where.</summary>
    public List<string> Messages { get; } = new();

    public bool IsClean => Corruptions == 0 && Leaks == 0;
}

/// <summary>Capability: the format can verify (and optionally repair) its own metadata.</summary>
public interface IImageCheck
{
    CheckResult Check(RepairMode repair = RepairMode.None);
}
