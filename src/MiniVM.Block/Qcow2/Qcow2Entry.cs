namespace MiniVM.Block.Qcow2;

/// <summary>Bit layout of L1, L2 and refcount-table entries (qcow2.txt "Cluster mapping", "Host cluster management").</summary>
public static class Qcow2Entry
{
    public const ulong Copied = 1UL << 63;
    public const ulong Compressed = 1UL << 62;
    /// <summary>v3 "reads as zeroes" flag of a standard L2 entry.</summary>
    public const ulong Zero = 1UL;
    /// <summary>Bits 9..55: a cluster-aligned host offset.</summary>
    public const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00UL;
    /// <summary>Standard L2 entry: bits 1..8 and 56..61 are reserved.</summary>
    public const ulong L2Reserved = 0x3F00_0000_0000_01FEUL;
    /// <summary>L1 entry: bits 0..8 and 56..62 are reserved.</summary>
    public const ulong L1Reserved = 0x7F00_0000_0000_01FFUL;
    /// <summary>Refcount table entry: bits 0..8 are reserved.</summary>
    public const ulong RefTableReserved = 0x1FFUL;
    public const ulong RefTableOffsetMask = ~0x1FFUL;
}
