using System.Buffers.Binary;

namespace MiniVM.Block.AddCow;

/// <summary>
/// The add-cow format in the registry. Create options follow v8 (add-cow.md §2.4): backing_file, image_file and
/// backing_fmt, which is checked against the backing file but cannot be stored.
/// </summary>
public sealed partial class AddCowFormat : IImageFormat
{
    public string Name => "add-cow";

    public IReadOnlyList<CreateOptionSpec> CreateOptions { get; } =
    [
        new("backing_file", "backing image (required), a plain file name next to the new image"),
        new("backing_fmt", "format of the backing image; add-cow cannot store it, so it must match what probing finds"),
        new("image_file", "raw file holding the guest data, a plain file name next to the new image; its length is the disk size", "NAME.raw"),
    ];

    /// <summary>Magic and version (§3.9). Machine configurations should still name the format instead of probing.</summary>
    /// <summary>By magic alone: an unknown version must be refused by the header parser, not opened as raw (issue 11).</summary>
    public int Probe(ReadOnlySpan<byte> head, string fileName) =>
        head.Length >= 12 && BinaryPrimitives.ReadUInt64BigEndian(head) == AddCowHeader.Magic ? 100 : 0;

    /// <summary>Without image_file the raw file is the add-cow file's name plus ".raw".</summary>
    public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context)
    {
        string? backing = options.BackingFile ?? options.Get("backing_file");
        string? backingFmt = options.BackingFormat ?? options.Get("backing_fmt");
        string image = options.Get("image_file") is { Length: > 0 } i ? i : Path.GetFileName(fileName) + ".raw";
        return AddCowImage.Create(fileName, size, backing ?? "", string.IsNullOrEmpty(backingFmt) ? null : backingFmt, image, context);
    }

    public IBlockDriver Open(string fileName, ImageOpenContext context) => AddCowImage.Open(fileName, context);
}
