using SkiaSharp;

namespace MiniVM.Drawing;

/// <summary>Text and shapes in the pictures' one font, with the measurements layouts need before drawing.</summary>
public static class Ink
{
    public static SKFont Font(float size) => new(Typefaces.Sans, size) { Subpixel = true, Edging = SKFontEdging.Antialias };

    public static float Width(string text, float size)
    {
        using var font = Font(size);
        return font.MeasureText(text);
    }

    /// <summary>Draws <paramref name="text"/> with its top at <paramref name="top"/> (layouts think in boxes, Skia in baselines).</summary>
    public static void Text(SKCanvas canvas, string text, float x, float top, float size, SKColor colour,
        SKTextAlign align = SKTextAlign.Left, bool bold = false)
    {
        using var font = Font(size);
        font.Embolden = bold;
        using var paint = new SKPaint { Color = colour, IsAntialias = true };
        canvas.DrawText(text, x, top - font.Metrics.Ascent, align, font, paint);
    }

    public static void Fill(SKCanvas canvas, float x, float y, float w, float h, SKColor colour)
    {
        using var paint = new SKPaint { Color = colour, Style = SKPaintStyle.Fill };
        canvas.DrawRect(x, y, w, h, paint);
    }

    public static void Stroke(SKCanvas canvas, float x, float y, float w, float h, SKColor colour, float thickness = 1)
    {
        using var paint = new SKPaint { Color = colour, Style = SKPaintStyle.Stroke, StrokeWidth = thickness };
        canvas.DrawRect(x + thickness / 2, y + thickness / 2, w - thickness, h - thickness, paint);
    }

    public static void Line(SKCanvas canvas, float x0, float y0, float x1, float y1, SKColor colour, float thickness = 1)
    {
        using var paint = new SKPaint { Color = colour, StrokeWidth = thickness, IsAntialias = true };
        canvas.DrawLine(x0, y0, x1, y1, paint);
    }
}
