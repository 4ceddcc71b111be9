using System.Buffers.Binary;
using System.Numerics;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// Registry entry for qcow2 v2/v3 (and "qcow3" = qcow2 v3 with the user-metadata extension; never the 2008 layout,
/// qcow3.md §4.1). Create lays the image out as qemu-img does: header, refcount table, one refcount block, L1.
/// </summary>
public sealed partial class Qcow2Format : IImageFormat, ICompressedWritesFormat, IMeasurableFormat
{
    /// <summary>"qcow2", or "qcow3": the same driver under the alias qcow3.md §4.1 asks for, creating compat=1.1 only
    /// and never winning a probe (files are qcow2 files).</summary>
    public Qcow2Format(string name = "qcow2")
    {
        if (name is not ("qcow2" or "qcow3")) throw new ArgumentException($"unknown qcow2 alias {name}", nameof(name));
        Name = name;
    }

    public string Name { get; }

    private bool IsAlias => Name == "qcow3";

    public IReadOnlyList<CreateOptionSpec> CreateOptions { get; } =
    [
        new("compat", "0.10 (version 2) or 1.1 (version 3)", "1.1"),
        new("cluster_size", "cluster size, a power of two from 512 to 2M", "64K"),
        new("refcount_bits", "width of a refcount: 16 (1..64, powers of two, with compat=1.1)", "16"),
        new("lazy_refcounts", "only off: refcounts are always kept exact", "off"),
        new("backing_file", "backing image name, stored in the header"),
        new("backing_fmt", "format of the backing image, stored as a header extension"),
    ];

    public int Probe(ReadOnlySpan<byte> head, string fileName)
    {
        if (head.Length < 8 || BinaryPrimitives.ReadUInt32BigEndian(head) != Qcow2Header.Magic) return 0;
        uint v = BinaryPrimitives.ReadUInt32BigEndian(head[4..]);
        return v is 2 or 3 && !IsAlias ? 100 : 0;
    }

    public IBlockDriver Open(string fileName, ImageOpenContext context) => Qcow2Image.Open(fileName, context);

    /// <summary>The cluster_size and refcount_bits options, checked as create and measure both need them.</summary>
    private static (long ClusterSize, long RefcountBits) ClusterAndRefcountSizes(ImageCreateOptions options)
    {
        long cs = options.GetSize("cluster_size", 64 * 1024);
        if (cs < 512 || cs > 2 * 1024 * 1024 || !BitOperations.IsPow2(cs))
            throw new ImageFormatException($"cluster_size={cs}: must be a power of two from 512 to 2M");
        long refBits = options.GetSize("refcount_bits", 16);
        if (refBits < 1 || refBits > 64 || !BitOperations.IsPow2(refBits))
            throw new ImageFormatException($"refcount_bits={refBits}: must be a power of two from 1 to 64");
        return (cs, refBits);
    }

    /// <summary>
    /// qemu's qcow2_measure: the fully allocated size is header, L2 and L1 tables for the whole disk, the refcount
    /// structures that count all of it (a fixed point), and every data cluster; the required size replaces the data
    /// clusters by those the source really holds. Metadata for sparse regions stays counted, as in qemu-img.
    /// </summary>
    public ImageMeasure Measure(long virtualSize, ImageCreateOptions options, Func<long, long>? dataBytes)
    {
        var (cs, refBits) = ClusterAndRefcountSizes(options);
        long aligned = (virtualSize + cs - 1) / cs * cs;
        long meta = cs; // header
        long l2Entries = RoundUp(aligned / cs, cs / 8);
        meta += l2Entries * 8;
        long l1Entries = RoundUp(l2Entries * 8 / cs, cs / 8);
        meta += l1Entries * 8;
        meta += RefcountMetadataSize((meta + aligned) / cs, cs, refBits);
        long full = meta + aligned;
        long data = dataBytes?.Invoke(cs) ?? 0;
        return new ImageMeasure(full - aligned + data, full);
    }

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;

    /// <summary>Refcount blocks and table clusters that count <paramref name="clusters"/> clusters and themselves (qcow2_refcount_metadata_size).</summary>
    private static long RefcountMetadataSize(long clusters, long cs, long refBits)
    {
        long perTableCluster = cs / 8, perBlock = cs * 8 / refBits;
        long table = 0, blocks = 0, n = 0, last;
        do
        {
            last = n;
            blocks = (clusters + table + blocks + perBlock - 1) / perBlock;
            table = (blocks + perTableCluster - 1) / perTableCluster;
            n = clusters + blocks + table;
        } while (n != last);
        return (blocks + table) * cs;
    }

    public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context)
    {
        int version = options.Get("compat") switch
        {
            null or "1.1" or "v3" => 3,
            "0.10" or "v2" => 2,
            var c => throw new ImageFormatException($"compat={c}: expected 0.10 or 1.1"),
        };
        if (IsAlias && version != 3)
            throw new ImageFormatException("qcow3 means qcow2 compat=1.1 with user metadata; use -f qcow2 for compat=0.10");
        var (cs, refBits) = ClusterAndRefcountSizes(options);
        if (version == 2 && refBits != 16)
            throw new ImageFormatException("refcount_bits other than 16 needs compat=1.1");
        if (options.GetBool("lazy_refcounts", false))
            throw new ImageFormatException("lazy_refcounts=on is not supported: MiniVM keeps refcounts exact");
        string? backing = options.BackingFile ?? options.Get("backing_file");
        string? backingFmt = options.BackingFormat ?? options.Get("backing_fmt");
        if (backingFmt is not null && backing is null)
            throw new ImageFormatException("backing_fmt given without backing_file");
        return Qcow2Image.Create(fileName, size, version, BitOperations.Log2((ulong)cs), BitOperations.Log2((ulong)refBits),
            backing, backingFmt, context);
    }
}
