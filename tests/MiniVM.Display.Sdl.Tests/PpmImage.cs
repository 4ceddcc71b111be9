using System.Text;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>A binary PPM (P6, 8-bit) as ImageMagick writes it: what the tests compare pixels in.</summary>
public sealed class PpmImage
{
    private readonly byte[] _rgb;

    private PpmImage(int width, int height, byte[] rgb)
    {
        Width = width;
        Height = height;
        _rgb = rgb;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>The pixel at (x, y) as 0xRRGGBB.</summary>
    public int this[int x, int y]
    {
        get
        {
            int o = (y * Width + x) * 3;
            return (_rgb[o] << 16) | (_rgb[o + 1] << 8) | _rgb[o + 2];
        }
    }

    public static PpmImage Parse(byte[] data)
    {
        int pos = 0;
        string magic = Token(data, ref pos);
        if (magic != "P6") throw new FormatException($"not a binary PPM (magic '{magic}', {data.Length} bytes)");
        int width = int.Parse(Token(data, ref pos)), height = int.Parse(Token(data, ref pos)), max = int.Parse(Token(data, ref pos));
        if (max != 255) throw new FormatException($"PPM maxval {max}: only 8-bit images are read");
        pos++; // the single whitespace byte after maxval
        int n = width * height * 3;
        if (width <= 0 || height <= 0 || data.Length - pos < n) throw new FormatException($"PPM {width}x{height} truncated at {data.Length} bytes");
        return new PpmImage(width, height, data.AsSpan(pos, n).ToArray());
    }

    private static string Token(byte[] data, ref int pos)
    {
        while (pos < data.Length)
        {
            if (data[pos] == '#') { while (pos < data.Length && data[pos] != '\n') pos++; }
            else if (char.IsWhiteSpace((char)data[pos])) pos++;
            else break;
        }
        var sb = new StringBuilder();
        while (pos < data.Length && !char.IsWhiteSpace((char)data[pos])) sb.Append((char)data[pos++]);
        return sb.ToString();
    }
}
