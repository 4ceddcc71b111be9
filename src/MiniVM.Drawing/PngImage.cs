using SkiaSharp;

namespace MiniVM.Drawing;

/// <summary>Pixels that already exist (a VGA frame) written as PNG through the same encoder as every picture.</summary>
public static class PngImage
{
    /// <param name="argb">Width × Height pixels as 0xAARRGGBB, row-major; alpha is ignored (screens are opaque).</param>
    public static unsafe void Write(Stream output, int width, int height, ReadOnlySpan<uint> argb)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"PNG of {width}x{height} pixels: both sides must be positive");
        if ((long)width * height != argb.Length)
            throw new ArgumentException($"{argb.Length} pixels given for a {width}x{height} image", nameof(argb));
        // 0xAARRGGBB words in little-endian memory are B, G, R, A bytes: Skia's BGRA 8888, read as opaque.
        var info = new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque);
        fixed (uint* p = argb)
        {
            using var pixmap = new SKPixmap(info, (nint)p, width * 4);
            using var png = pixmap.Encode(SKEncodedImageFormat.Png, 100)
                ?? throw new InvalidOperationException("the PNG encoder returned nothing");
            png.SaveTo(output);
        }
    }
}
