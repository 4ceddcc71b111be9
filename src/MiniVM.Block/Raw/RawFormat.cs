namespace MiniVM.Block.Raw;

/// <summary>The raw format: no header, so it claims any file with the lowest probe score.</summary>
public sealed class RawFormat : IImageFormat
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

    public IBlockDriver Open(string fileName, ImageOpenContext context) => RawImage.Open(fileName, context.ReadOnly);
}
