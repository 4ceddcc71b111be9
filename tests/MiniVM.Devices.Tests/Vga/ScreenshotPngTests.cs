using MiniVM.Drawing;
using SkiaSharp;

namespace MiniVM.Devices.Tests.Vga;

/// <summary>VGA screenshots (monitor `screendump`, run --screenshot) go through the pictures' PNG encoder.</summary>
public class ScreenshotPngTests
{
    /// <summary>Decodes a PNG file's bytes into 0xFFRRGGBB pixels (libpng inside Skia checks signature and CRCs).</summary>
    internal static (int Width, int Height, uint[] Pixels) Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        using var bitmap = SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        var pixels = new uint[bitmap.Width * bitmap.Height];
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                pixels[y * bitmap.Width + x] = (uint)bitmap.GetPixel(x, y) | 0xFF000000u;
        return (bitmap.Width, bitmap.Height, pixels);
    }

    [Fact]
    public void Round_trip_gives_back_every_pixel()
    {
        const int w = 37, h = 23;
        var argb = new uint[w * h];
        var rng = new Random(4);
        for (int i = 0; i < argb.Length; i++) argb[i] = 0xFF000000u | (uint)rng.Next(0, 1 << 24);
        for (int x = 0; x < w; x++) argb[5 * w + x] = 0xFF102030; // a flat row too
        argb[7] = 0x00ABCDEF; // alpha is ignored: a screen is opaque
        using var ms = new MemoryStream();
        PngImage.Write(ms, w, h, argb);
        var (dw, dh, pixels) = Decode(ms.ToArray());
        Assert.Equal((w, h), (dw, dh));
        argb[7] = 0xFFABCDEF;
        Assert.Equal(argb, pixels);
    }

    [Fact]
    public void Mismatched_sizes_are_refused_with_a_message()
    {
        var ex = Assert.Throws<ArgumentException>(() => PngImage.Write(Stream.Null, 4, 4, new uint[15]));
        Assert.Contains("15 pixels", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => PngImage.Write(Stream.Null, 0, 4, []));
    }

    [Fact]
    public void Screenshot_of_a_text_screen_decodes_to_the_rendered_frame()
    {
        var vga = VgaTextModeTests.Mode3();
        VgaTextModeTests.Put(vga, 0, 0, "PNG", 0x1E);
        var fb = vga.Render();
        using var ms = new MemoryStream();
        fb.WritePng(ms);
        var (w, h, pixels) = Decode(ms.ToArray());
        Assert.Equal((720, 400), (w, h));
        Assert.Equal(fb.Pixels.ToArray(), pixels);
    }
}
