using System.Globalization;
using System.Text.Json;

namespace MiniVM.Cli;

/// <summary>
/// One format-specific line of `img info` as qemu-img's JSON has it. qemu-img prints its human lines from the typed
/// JSON value (keys with '-' shown as ' ', booleans as true/false, numbers in decimal); the drivers state their lines
/// in that human form, so the JSON is its inverse: ' ' back to '-', true/false as booleans, a canonical decimal
/// integer as a number, anything else ("1.1", "zlib") as a string.
/// </summary>
internal static class FormatSpecificJson
{
    public static void Write(Utf8JsonWriter w, string humanKey, string value)
    {
        string key = humanKey.Replace(' ', '-');
        if (value is "true" or "false") w.WriteBoolean(key, value == "true");
        else if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) &&
                 n.ToString(CultureInfo.InvariantCulture) == value)
            w.WriteNumber(key, n);
        else w.WriteString(key, value);
    }
}
