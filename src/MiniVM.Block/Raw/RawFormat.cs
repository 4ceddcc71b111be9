namespace MiniVM.Block.Raw;

/// <summary>The raw format: no header, so it claims any file with the lowest probe score.</summary>
public sealed class RawFormat : IMeasurableFormat
{
    public string Name => "raw";

    public IReadOnlyList<CreateOptionSpec> CreateOptions { get; } = [];

    public int Probe(ReadOnlySpan<byte> head, string fileName) => 1;

    public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context)
    {
        if (options.BackingFile is not null)
            throw new ImageFormatException(fileName, "raw images cannot have a backing file");
        return RawImage.Create(fileName, size);
    }

    /// <summary>qemu's raw_measure: every byte of the disk counts, holes included (sizes rounded up to sectors).</summary>
    public ImageMeasure Measure(long virtualSize, ImageCreateOptions options, Func<long, long>? dataBytes)
    {
        long size = dataBytes is null ? (virtualSize + 511) / 512 * 512 : virtualSize;
        return new ImageMeasure(size, size);
    }

    public IBlockDriver Open(string fileName, ImageOpenContext context) => RawImage.Open(fileName, context.ReadOnly);
}
