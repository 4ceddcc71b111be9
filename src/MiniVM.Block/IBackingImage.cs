namespace MiniVM.Block;

/// <summary>Capability: the image is an overlay on a backing image (of any registered format).</summary>
public interface IBackingImage
{
    /// <summary>The backing file name as stored in the image (null when there is none).</summary>
    string? BackingFileName { get; }

    /// <summary>The backing format as stored in the image, when the format records it.</summary>
    string? BackingFormat { get; }

    /// <summary>The opened backing image, or null when there is none.</summary>
    IBlockDriver? Backing { get; }
}
