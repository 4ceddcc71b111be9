using System.Buffers.Binary;
using System.IO.Compression;

namespace MiniVM.Devices.Vga;

/// <summary>
/// Writes 8-bit RGB PNG images (PNG spec: signature, IHDR, one IDAT of zlib data, IEND). Each scan line uses
/// the "Sub" filter, which shrinks the flat areas of screenshots well and costs one subtraction per byte.
/// </summary>
public static class PngWriter
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <param name="argb">Width × Height pixels as 0xAARRGGBB, row-major; alpha is dropped (screens are opaque).</param>
    public static void Write(Stream stream, int width, int height, ReadOnlySpan<uint> argb)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"PNG of {width}x{height} pixels: both sides must be positive");
        if ((long)width * height != argb.Length) throw new ArgumentException($"{argb.Length} pixels given for a {width}x{height} image", nameof(argb));

        stream.Write(Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type: truecolour RGB
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // adaptive filtering
        ihdr[12] = 0; // no interlace
        WriteChunk(stream, "IHDR"u8, ihdr);

        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
        {
            var line = new byte[1 + width * 3];
            line[0] = 1; // filter type Sub
            for (int y = 0; y < height; y++)
            {
                var row = argb.Slice(y * width, width);
                byte pr = 0, pg = 0, pb = 0;
                for (int x = 0, i = 1; x < width; x++, i += 3)
                {
                    uint p = row[x];
                    byte r = (byte)(p >> 16), g = (byte)(p >> 8), b = (byte)p;
                    line[i] = (byte)(r - pr);
                    line[i + 1] = (byte)(g - pg);
                    line[i + 2] = (byte)(b - pb);
                    pr = r; pg = g; pb = b;
                }
                z.Write(line);
            }
        }
        WriteChunk(stream, "IDAT"u8, idat.GetBuffer().AsSpan(0, (int)idat.Length));
        WriteChunk(stream, "IEND"u8, []);
    }

    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        stream.Write(type);
        stream.Write(data);
        uint crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        stream.Write(word);
    }
}
