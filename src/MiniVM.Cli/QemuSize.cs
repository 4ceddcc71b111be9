using System.Globalization;

namespace MiniVM.Cli;

/// <summary>
/// Sizes as qemu-img prints them (size_to_str): three significant digits, binary units, and the next unit
/// from 1000 of the current one on ("1000 KiB" is "0.977 MiB"), so `img info` lines read like qemu-img's.
/// </summary>
internal static class QemuSize
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

    public static string Format(long bytes)
    {
        if (bytes <= 0) return "0 B";
        int exponent = Math.ILogB(bytes / (1000.0 / 1024.0)); // floor(log2), as frexp's exponent minus one
        int unit = Math.Min(exponent / 10, Units.Length - 1);
        double value = bytes / Math.Pow(1024, unit);
        return G3(value) + " " + Units[unit];
    }

    /// <summary>printf's "%0.3g" for 0.001 ≤ value &lt; 1000: three significant digits, trailing zeros dropped.</summary>
    private static string G3(double value)
    {
        int decimals = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : 3;
        double rounded = Math.Round(value, decimals, MidpointRounding.ToEven);
        // Rounding may carry into a new digit (99.96 -> 100.0): recount the digits then.
        if (decimals > 0 && rounded >= Math.Pow(10, 3 - decimals)) decimals--;
        string s = rounded.ToString("F" + decimals, CultureInfo.InvariantCulture);
        if (s.Contains('.')) s = s.TrimEnd('0').TrimEnd('.');
        return s;
    }
}
