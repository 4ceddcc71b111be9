using System.Buffers.Binary;
using System.Numerics;

namespace MiniVM.Block.Irow;

/// <summary>The iROW format in the registry (irow.md §2.7 probe, §5.1 create options).</summary>
public sealed partial class IrowFormat : IImageFormat
{
    public string Name => "irow";

    public IReadOnlyList<CreateOptionSpec> CreateOptions { get; } =
    [
        new("cluster_size", "allocation unit, a power of two from 512 to 2M", "64K"),
        new("copy_on_demand", "copy data read from snapshots or the backing file into the current state (on/off)", "off"),
        new("backing_file", "backing image, a plain file name next to the new image"),
        new("backing_fmt", "format of the backing image; iROW cannot store it, so it must match what probing finds"),
    ];

    /// <summary>By magic alone: an unknown version must be refused by the header parser, not opened as raw (issue 11).</summary>
    public int Probe(ReadOnlySpan<byte> head, string fileName) =>
        head.Length >= IrowMetaHeader.Size && BinaryPrimitives.ReadUInt32BigEndian(head) == IrowMetaHeader.Magic ? 100 : 0;

    public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context)
    {
        string? backing = options.BackingFile ?? options.Get("backing_file");
        string? backingFmt = options.BackingFormat ?? options.Get("backing_fmt");
        var p = new IrowCreateParameters(
            ClusterBits: ClusterBits(options, fileName),
            CopyOnDemand: options.GetBool("copy_on_demand", false),
            BackingFile: string.IsNullOrEmpty(backing) ? null : backing,
            BackingFormat: string.IsNullOrEmpty(backingFmt) ? null : backingFmt);
        return IrowImage.Create(fileName, size, p, context);
    }

    private static int ClusterBits(ImageCreateOptions options, string? fileName)
    {
        long cluster = options.GetSize("cluster_size", 65536);
        if (cluster == 0) cluster = 65536; // the original keeps the default for 0 (§5.1)
        if (cluster < 512 || cluster > 2 << 20 || !BitOperations.IsPow2(cluster))
            throw new ImageFormatException(fileName, $"cluster_size {cluster} must be a power of two between 512 and 2048k");
        return BitOperations.Log2((ulong)cluster);
    }

    public IBlockDriver Open(string fileName, ImageOpenContext context) => IrowImage.Open(fileName, context);
}
