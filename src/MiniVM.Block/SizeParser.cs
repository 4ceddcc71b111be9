using System.Globalization;

namespace MiniVM.Block;

/// <summary>Sizes as qemu-img writes them: "512", "64K", "64M", "10G", "1T" (powers of 1024), optional "B"/"iB".</summary>
public static class SizeParser
{
    public static long Parse(string text, string what = "size")
    {
        string t = text.Trim();
        if (t.Length == 0) throw new ImageFormatException($"{what} is empty");
        int end = t.Length;
        if (t.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) end -= 2;
        else if (end > 1 && (t[end - 1] == 'B' || t[end - 1] == 'b') && char.IsLetter(t[end - 2])) end -= 1;
        long mult = 1;
        if (end > 0 && char.IsLetter(t[end - 1]))
        {
            mult = char.ToUpperInvariant(t[end - 1]) switch
            {
                'B' => 1L,
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                'T' => 1L << 40,
                'P' => 1L << 50,
                var c => throw new ImageFormatException($"{what} '{text}': unknown suffix '{c}'"),
            };
            end--;
        }
        if (!long.TryParse(t.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out long n))
            throw new ImageFormatException($"{what} '{text}' is not a number with an optional K/M/G/T suffix");
        try { return checked(n * mult); }
        catch (OverflowException) { throw new ImageFormatException($"{what} '{text}' is too large"); }
    }

    /// <summary>Human form used by `info`: "64 MiB", "1.5 GiB".</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double v = bytes; int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : v.ToString(v % 1 == 0 ? "0" : "0.##", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
