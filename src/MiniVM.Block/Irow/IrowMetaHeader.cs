using System.Buffers.Binary;

namespace MiniVM.Block.Irow;

/// <summary>
/// The 556-byte meta header (irow.md §2.2), every integer big-endian. <see cref="Parse"/> applies the original's
/// open-time checks (§2.7) plus the bounds the original lacked (§9 W26, W27), so a value of this type is always
/// a consistent geometry.
/// </summary>
public readonly record struct IrowMetaHeader(
    bool CopyOnDemand,
    uint SnapshotCount,
    int ClusterBits,
    long TotalClusters,
    long DiskSize,
    string CurrentBtmp,
    string BackingFile)
{
    public const int Size = 556;
    public const uint Magic = 0x49524F57; // "IROW"
    public const uint Version = 1;
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;
    public const int NameFieldLength = 256;

    /// <summary>Bitmaps are held in memory as one array: keep them to 1 GiB (8 Gi clusters), far past any real disk.</summary>
    public const long MaxTotalClusters = 1L << 33;

    public long ClusterSize => 1L << ClusterBits;

    /// <summary>ceil(total_clusters / 8), the bitmap length at the start of every btmp file (§2.5).</summary>
    public int BitmapSize => (int)((TotalClusters + 7) >> 3);

    public static long ClustersFor(long diskSize, int clusterBits) => (diskSize + (1L << clusterBits) - 1) >> clusterBits;

    /// <summary>Checks a geometry a caller wants to create; throws ImageFormatException naming the bad value.</summary>
    public static void CheckGeometry(string? fileName, long diskSize, int clusterBits)
    {
        if (clusterBits < MinClusterBits || clusterBits > MaxClusterBits)
            throw ImageFormatException.BadField(fileName, "cluster_size", 1L << Math.Clamp(clusterBits, 0, 62), "must be a power of two between 512 and 2048k");
        if (diskSize <= 0)
            throw ImageFormatException.BadField(fileName, "disk_size", diskSize, "must be greater than zero");
        if (diskSize % 512 != 0)
            throw ImageFormatException.BadField(fileName, "disk_size", diskSize, "must be a multiple of 512");
        if (diskSize > long.MaxValue - (1L << MaxClusterBits) || ClustersFor(diskSize, clusterBits) > MaxTotalClusters)
            throw ImageFormatException.BadField(fileName, "disk_size", diskSize, $"needs more than {MaxTotalClusters} clusters");
    }

    public static IrowMetaHeader Parse(ReadOnlySpan<byte> b, string? fileName)
    {
        if (b.Length < Size)
            throw new ImageFormatException(fileName, $"meta header is {b.Length} bytes, needs {Size}");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(b);
        if (magic != Magic) throw ImageFormatException.BadField(fileName, "magic", $"0x{magic:X8}", "not an iROW meta file (expected 0x49524F57)");
        uint version = BinaryPrimitives.ReadUInt32BigEndian(b[4..]);
        if (version != Version) throw ImageFormatException.BadField(fileName, "version", version, "only version 1 exists");
        uint cod = BinaryPrimitives.ReadUInt32BigEndian(b[8..]);
        uint count = BinaryPrimitives.ReadUInt32BigEndian(b[12..]);
        uint clusterSize = BinaryPrimitives.ReadUInt32BigEndian(b[16..]);
        uint clusterBits = BinaryPrimitives.ReadUInt32BigEndian(b[20..]);
        uint spc = BinaryPrimitives.ReadUInt32BigEndian(b[24..]);
        ulong total = BinaryPrimitives.ReadUInt64BigEndian(b[28..]);
        ulong disk = BinaryPrimitives.ReadUInt64BigEndian(b[36..]);
        if (clusterBits < MinClusterBits || clusterBits > MaxClusterBits)
            throw ImageFormatException.BadField(fileName, "cluster_bits", clusterBits, $"must be {MinClusterBits}..{MaxClusterBits}");
        if (clusterSize != 1u << (int)clusterBits)
            throw ImageFormatException.BadField(fileName, "cluster_size", clusterSize, $"must be 2^cluster_bits = {1u << (int)clusterBits}");
        if (spc != clusterSize >> 9)
            throw ImageFormatException.BadField(fileName, "sectors_per_cluster", spc, $"must be cluster_size/512 = {clusterSize >> 9}");
        if (disk == 0 || disk > long.MaxValue / 2)
            throw ImageFormatException.BadField(fileName, "disk_size", disk, "must be between 1 byte and 2^62");
        if (disk % 512 != 0)
            throw ImageFormatException.BadField(fileName, "disk_size", disk, "must be a multiple of 512");
        long expected = ClustersFor((long)disk, (int)clusterBits);
        if (total != (ulong)expected)
            throw ImageFormatException.BadField(fileName, "total_clusters", total, $"must be ceil(disk_size/cluster_size) = {expected}");
        if (expected > MaxTotalClusters)
            throw ImageFormatException.BadField(fileName, "total_clusters", total, $"more than {MaxTotalClusters} clusters is not supported");
        string current = IrowText.Read(b.Slice(44, NameFieldLength), fileName, "current_btmp");
        if (current.Length == 0) throw ImageFormatException.BadField(fileName, "current_btmp", "\"\"", "is empty");
        string backing = IrowText.Read(b.Slice(300, NameFieldLength), fileName, "backing_file");
        return new IrowMetaHeader(cod != 0, count, (int)clusterBits, expected, (long)disk, current, backing);
    }

    public void WriteTo(Span<byte> b)
    {
        b = b[..Size];
        b.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], CopyOnDemand ? 1u : 0u);
        BinaryPrimitives.WriteUInt32BigEndian(b[12..], SnapshotCount);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], (uint)ClusterSize);
        BinaryPrimitives.WriteUInt32BigEndian(b[20..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], (uint)(ClusterSize >> 9));
        BinaryPrimitives.WriteUInt64BigEndian(b[28..], (ulong)TotalClusters);
        BinaryPrimitives.WriteUInt64BigEndian(b[36..], (ulong)DiskSize);
        IrowText.Write(b.Slice(44, NameFieldLength), CurrentBtmp, "current_btmp");
        IrowText.Write(b.Slice(300, NameFieldLength), BackingFile, "backing_file");
    }
}
