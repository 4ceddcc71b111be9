using System.Globalization;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>Numbers typed on the command line: sizes with K/M/G/T suffixes or 0x hex, pattern bytes, counts.</summary>
internal static class CliNumbers
{
    /// <summary>A non-negative byte count or offset: "4096", "64k", "1M", "0x10000".</summary>
    public static long Size(string text, string what)
    {
        string t = text.Trim();
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (long.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long hex) && hex >= 0)
                return hex;
            throw CommandFailure.Usage($"{what} '{text}' is not a valid hexadecimal number");
        }
        try { return SizeParser.Parse(t, what); }
        catch (ImageFormatException e) { throw CommandFailure.Usage(e.Message); }
    }

    /// <summary>A size that must fit a single buffer (bench request sizes): at most <paramref name="max"/>.</summary>
    public static int BufferSize(string text, string what, int max)
    {
        long v = Size(text, what);
        if (v <= 0 || v > max) throw CommandFailure.Usage($"{what} '{text}' must be between 1 and {max}");
        return (int)v;
    }

    /// <summary>A pattern byte as qemu-io takes it: decimal or 0x hex, 0..255.</summary>
    public static byte PatternByte(string text)
    {
        string t = text.Trim();
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? int.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v)
            : int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok || v < 0 || v > 255) throw CommandFailure.Usage($"pattern '{text}' is not a byte (0..255 or 0x00..0xff)");
        return (byte)v;
    }

    public static string Hex(long v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}
