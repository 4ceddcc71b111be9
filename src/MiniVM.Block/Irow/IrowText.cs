using System.Text;

namespace MiniVM.Block.Irow;

/// <summary>
/// The fixed-size, NUL-padded string fields of the meta file (irow.md §2.4). Unlike the original, a field with no
/// NUL is refused (§9 W12), and writers refuse strings that would fill the field, so a NUL always follows.
/// </summary>
internal static class IrowText
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Read(ReadOnlySpan<byte> field, string? fileName, string fieldName)
    {
        int n = field.IndexOf((byte)0);
        if (n < 0)
            throw ImageFormatException.BadField(fileName, fieldName, "(unterminated)", $"no NUL within its {field.Length} bytes");
        try { return StrictUtf8.GetString(field[..n]); }
        catch (DecoderFallbackException)
        {
            throw ImageFormatException.BadField(fileName, fieldName, Convert.ToHexString(field[..Math.Min(n, 32)]), "not valid UTF-8");
        }
    }

    /// <summary>Bytes <paramref name="value"/> takes in a field, or an error naming the field when it does not fit with its NUL.</summary>
    public static void CheckFits(string value, int fieldLength, string fieldName)
    {
        if (value.IndexOf('\0') >= 0)
            throw new ImageFormatException($"{fieldName} '{value.Replace('\0', '?')}' contains a NUL character");
        int n = StrictUtf8.GetByteCount(value);
        if (n >= fieldLength)
            throw new ImageFormatException($"{fieldName} '{value}' is {n} bytes long; at most {fieldLength - 1} fit");
    }

    public static void Write(Span<byte> field, string value, string fieldName)
    {
        CheckFits(value, field.Length, fieldName);
        field.Clear();
        StrictUtf8.GetBytes(value, field);
    }
}
