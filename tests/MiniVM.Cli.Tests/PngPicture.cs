using System.Buffers.Binary;
using System.IO.Compression;

namespace MiniVM.Cli.Tests;

/// <summary>A minimal PNG reader for the tests: 8-bit RGB, non-interlaced, all five filter types; pixels as 0xRRGGBB.</summary>
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
        int width = 0, height = 0;
        using var idat = new MemoryStream();
        for (int p = 8; p < b.Length;)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(p));
            string type = System.Text.Encoding.ASCII.GetString(b, p + 4, 4);
            var data = b.AsSpan(p + 8, len);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal(8, data[8]);
                Assert.Equal(2, data[9]);
                Assert.Equal(0, data[12]);
            }
            else if (type == "IDAT") idat.Write(data);
            p += 12 + len;
        }
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        int stride = width * 3;
        var raw = new byte[height * (stride + 1)];
        z.ReadExactly(raw);
        var pix = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            byte filter = raw[y * (stride + 1)];
            for (int i = 0; i < stride; i++)
            {
                int x = raw[y * (stride + 1) + 1 + i];
                int a = i >= 3 ? pix[y * stride + i - 3] : 0;
                int up = y > 0 ? pix[(y - 1) * stride + i] : 0;
                int c = i >= 3 && y > 0 ? pix[(y - 1) * stride + i - 3] : 0;
                int pred = filter switch
                {
                    0 => 0, 1 => a, 2 => up, 3 => (a + up) / 2,
                    4 => Paeth(a, up, c),
                    _ => throw new InvalidDataException($"PNG filter {filter}"),
                };
                pix[y * stride + i] = (byte)(x + pred);
            }
        }
        var rgb = new int[width * height];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = pix[i * 3] << 16 | pix[i * 3 + 1] << 8 | pix[i * 3 + 2];
        return new PngPicture(width, height, rgb);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>The first pixel of <paramref name="rgb"/> in reading order (top row first).</summary>
    public (int X, int Y) Find(int rgb)
    {
        for (int i = 0; i < _rgb.Length; i++)
            if (_rgb[i] == rgb) return (i % Width, i / Width);
        throw new Xunit.Sdk.XunitException($"colour {rgb:X6} is not in the picture");
    }

    public int Count(int rgb) => _rgb.Count(p => p == rgb);
}
