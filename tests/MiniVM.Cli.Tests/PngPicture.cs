using SkiaSharp;

namespace MiniVM.Cli.Tests;

/// <summary>A PNG file decoded (by libpng inside Skia, which checks its CRCs) into pixels as 0xRRGGBB.</summary>
internal sealed class PngPicture
{
    public int Width { get; }
    public int Height { get; }
    private readonly int[] _rgb;

    private PngPicture(int width, int height, int[] rgb) => (Width, Height, _rgb) = (width, height, rgb);

    public int this[int x, int y] => _rgb[y * Width + x];

    public static PngPicture Read(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], b[..8]);
        using var bitmap = SKBitmap.Decode(b);
        Assert.NotNull(bitmap);
        var rgb = new int[bitmap.Width * bitmap.Height];
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                rgb[y * bitmap.Width + x] = (int)((uint)bitmap.GetPixel(x, y) & 0xFFFFFF);
        return new PngPicture(bitmap.Width, bitmap.Height, rgb);
    }

    /// <summary>The first pixel of <paramref name="rgb"/> in reading order (top row first).</summary>
    public (int X, int Y) Find(int rgb)
    {
        for (int i = 0; i < _rgb.Length; i++)
            if (_rgb[i] == rgb) return (i % Width, i / Width);
        throw new Xunit.Sdk.XunitException($"colour {rgb:X6} is not in the picture");
    }

    /// <summary>Pixels in the rectangle that are dark (text): every channel below 0x80.</summary>
    public int DarkPixels(int x, int y, int w, int h)
    {
        int n = 0;
        for (int yy = y; yy < Math.Min(Height, y + h); yy++)
            for (int xx = Math.Max(0, x); xx < Math.Min(Width, x + w); xx++)
            {
                int p = this[xx, yy];
                if ((p >> 16 & 0xFF) < 0x80 && (p >> 8 & 0xFF) < 0x80 && (p & 0xFF) < 0x80) n++;
            }
        return n;
    }
}
