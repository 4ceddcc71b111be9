using System.Buffers.Binary;
using System.IO.Compression;
using MiniVM.Devices.Vga;

namespace MiniVM.Devices.Tests.Vga;

public class PngWriterTests
{
    /// <summary>A minimal PNG reader for 8-bit RGB: checks signature and CRCs, inflates IDAT, undoes filters 0–4.</summary>
    internal static (int Width, int Height, uint[] Pixels) Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int pos = 8, width = 0, height = 0;
        var idat = new MemoryStream();
        var types = new List<string>();
        while (pos < png.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(png, pos + 4, 4);
            var data = png.AsSpan(pos + 8, len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len));
            Assert.Equal(ReferenceCrc(png.AsSpan(pos + 4, 4 + len)), crc);
            types.Add(type);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, data[8..13].ToArray());
            }
            else if (type == "IDAT") idat.Write(data);
            pos += 12 + len;
        }
        Assert.Equal(["IHDR", "IDAT", "IEND"], types);

        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        var bytes = raw.ToArray();
        int stride = width * 3;
        Assert.Equal(height * (stride + 1), bytes.Length);
        var pixels = new uint[width * height];
        var prev = new byte[stride];
        var cur = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            int f = bytes[y * (stride + 1)];
            for (int i = 0; i < stride; i++)
            {
                int a = i >= 3 ? cur[i - 3] : 0, b = prev[i], c = i >= 3 ? prev[i - 3] : 0;
                int x = bytes[y * (stride + 1) + 1 + i];
                cur[i] = (byte)(f switch
                {
                    0 => x,
                    1 => x + a,
                    2 => x + b,
                    3 => x + (a + b) / 2,
                    4 => x + Paeth(a, b, c),
                    _ => throw new InvalidDataException($"filter {f}"),
                });
            }
            for (int xx = 0; xx < width; xx++)
                pixels[y * width + xx] = 0xFF000000u | (uint)(cur[xx * 3] << 16) | (uint)(cur[xx * 3 + 1] << 8) | cur[xx * 3 + 2];
            (prev, cur) = (cur, prev);
        }
        return (width, height, pixels);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Bitwise CRC-32, independent of the writer's table.</summary>
    private static uint ReferenceCrc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte d in data)
        {
            crc ^= d;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    [Fact]
    public void Round_trip_gives_back_every_pixel()
    {
        const int w = 37, h = 23;
        var argb = new uint[w * h];
        var rng = new Random(4);
        for (int i = 0; i < argb.Length; i++) argb[i] = 0xFF000000u | (uint)rng.Next(0, 1 << 24);
        for (int x = 0; x < w; x++) argb[5 * w + x] = 0xFF102030; // a flat row too
        using var ms = new MemoryStream();
        PngWriter.Write(ms, w, h, argb);
        var (dw, dh, pixels) = Decode(ms.ToArray());
        Assert.Equal((w, h), (dw, dh));
        Assert.Equal(argb, pixels);
    }

    [Fact]
    public void Iend_chunk_has_the_well_known_crc()
    {
        using var ms = new MemoryStream();
        PngWriter.Write(ms, 1, 1, [0xFFFFFFFF]);
        var png = ms.ToArray();
        Assert.Equal(new byte[] { 0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82 }, png[^12..]);
    }

    [Fact]
    public void Mismatched_sizes_are_refused_with_a_message()
    {
        var ex = Assert.Throws<ArgumentException>(() => PngWriter.Write(Stream.Null, 4, 4, new uint[15]));
        Assert.Contains("15 pixels", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => PngWriter.Write(Stream.Null, 0, 4, []));
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
