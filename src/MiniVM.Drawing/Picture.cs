using SkiaSharp;

namespace MiniVM.Drawing;

/// <summary>
/// A picture described once by drawing code on an <see cref="SKCanvas"/> and written as PNG or SVG: the same calls
/// draw both, so the two outputs show the same thing. The canvas starts white.
/// </summary>
public sealed class Picture(int width, int height, Action<SKCanvas> draw)
{
    public int Width { get; } = width > 0 && height > 0 ? width
        : throw new ArgumentOutOfRangeException(nameof(width), $"picture of {width}x{height} pixels: both sides must be positive");
    public int Height { get; } = height;

    /// <summary>What `--png`/`--svg` choose: SVG for a name ending in .svg, PNG otherwise.</summary>
    public void Write(Stream output, bool svg)
    {
        if (svg) WriteSvg(output);
        else WritePng(output);
    }

    public void WritePng(Stream output)
    {
        var info = new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info)
            ?? throw new InvalidOperationException($"cannot allocate a {Width}x{Height} drawing surface");
        surface.Canvas.Clear(SKColors.White);
        draw(surface.Canvas);
        surface.Canvas.Flush();
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("the PNG encoder returned nothing");
        png.SaveTo(output);
    }

    public void WriteSvg(Stream output)
    {
        using (var stream = new SKManagedWStream(output))
        using (var canvas = SKSvgCanvas.Create(SKRect.Create(Width, Height), stream))
        {
            using var white = new SKPaint { Color = SKColors.White };
            canvas.DrawRect(0, 0, Width, Height, white);
            draw(canvas);
        }
        output.Flush();
    }
}
