namespace MiniVM.Block;

/// <summary>Host bytes a new image needs (`img measure`): with the data it will hold, and with every cluster allocated.</summary>
public readonly record struct ImageMeasure(long Required, long FullyAllocated);

/// <summary>Capability of a format: it can tell how large a new image of it will be, as qemu-img measure does.</summary>
public interface IMeasurableFormat : IImageFormat
{
    /// <summary>
    /// The sizes of a new image of <paramref name="virtualSize"/> bytes created with <paramref name="options"/>.
    /// <paramref name="dataBytes"/> gives, for an allocation granularity, the bytes of the whole granules that hold data
    /// in the source to be copied in; null when the new image would start empty (`--size`).
    /// </summary>
    ImageMeasure Measure(long virtualSize, ImageCreateOptions options, Func<long, long>? dataBytes);
}
