using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.AddCow;

/// <summary>
/// The v8 add-cow header (add-cow.md §2.1, §6.1): 2560 big-endian bytes naming the backing file and the raw image
/// file. It has no size, cluster-size or feature fields; the raw file's length is the disk size.
/// </summary>
/// <param name="BackingFile">Stored backing name; empty means "no backing" (unallocated clusters read as zeroes, §5.5).</param>
/// <param name="ImageFile">Stored name of the raw data file; never empty.</param>
public readonly record struct AddCowHeader(string BackingFile, string ImageFile)
{
    public const ulong Magic = 0x4144445F434F57FF; // "ADD_COW\xff"
    public const uint Version = 1;
    public const int Size = 2560; // also the bitmap's offset: 5 sectors, so bitmap blocks are sector-aligned
    public const int BackingNameOffset = 12;
    public const int ImageNameOffset = 1036;
    public const int NameFieldSize = 1024;
    public const int MaxNameBytes = NameFieldSize - 1;
    public const int ReservedOffset = 2060;
    public const int ReservedSize = 500;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses and validates in the order of add-cow.md §6.2 steps 1-5.</summary>
    public static AddCowHeader Parse(ReadOnlySpan<byte> bytes, string? fileName)
    {
        if (bytes.Length < Size)
            throw new ImageFormatException(fileName, $"truncated header: {bytes.Length} bytes, an add-cow header has {Size}");
        ulong magic = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        if (magic != Magic)
            throw ImageFormatException.BadField(fileName, "magic", $"0x{magic:x16}", "not an add-cow file");
        uint version = BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]);
        if (version != Version)
            throw ImageFormatException.BadField(fileName, "version", version, "unsupported version (only 1 is known)");
        var reserved = bytes.Slice(ReservedOffset, ReservedSize);
        int nonZero = reserved.IndexOfAnyExcept((byte)0);
        if (nonZero >= 0)
        {
            // The v4 layout stored a 64-bit size at 2060 under the same magic and version (§2.4).
            string why = nonZero < 8 ? "must be zero (this looks like the older v4 add-cow layout, which is not supported)"
                                     : "must be zero (unknown header extension)";
            throw ImageFormatException.BadField(fileName, $"reserved[{nonZero}]", $"0x{reserved[nonZero]:x2}", why);
        }
        string backing = ParseName(bytes.Slice(BackingNameOffset, NameFieldSize), fileName, "backing_file");
        string image = ParseName(bytes.Slice(ImageNameOffset, NameFieldSize), fileName, "image_file");
        if (image.Length == 0)
            throw ImageFormatException.BadField(fileName, "image_file", "\"\"", "the raw image file name is empty");
        return new AddCowHeader(backing, image);
    }

    private static string ParseName(ReadOnlySpan<byte> field, string? fileName, string what)
    {
        int nul = field.IndexOf((byte)0);
        if (nul < 0)
            throw ImageFormatException.BadField(fileName, what, "(1024 bytes)", "no NUL terminator inside the field");
        int garbage = field[nul..].IndexOfAnyExcept((byte)0);
        if (garbage >= 0)
            throw ImageFormatException.BadField(fileName, what, $"byte {nul + garbage} = 0x{field[nul + garbage]:x2}",
                "bytes after the NUL terminator must be zero");
        string name;
        try { name = StrictUtf8.GetString(field[..nul]); }
        catch (DecoderFallbackException) { throw ImageFormatException.BadField(fileName, what, "(bytes)", "not valid UTF-8"); }
        CheckNoControl(name, fileName, what);
        return name;
    }

    private static void CheckNoControl(string name, string? fileName, string what)
    {
        foreach (char c in name)
            if (char.IsControl(c))
                throw ImageFormatException.BadField(fileName, what, $"'{name.Replace(c, '?')}'", $"contains control character U+{(int)c:X4}");
    }

    /// <summary>Checks a name before it is stored: at most 1023 UTF-8 bytes (never truncated, §5.2 item 4), no controls.</summary>
    public static void CheckStorable(string name, string? fileName, string what)
    {
        int n = StrictUtf8.GetByteCount(name);
        if (n > MaxNameBytes)
            throw ImageFormatException.BadField(fileName, what, $"({n} bytes)", $"longer than the {MaxNameBytes} bytes the header holds");
        if (name.IndexOf('\0') >= 0)
            throw ImageFormatException.BadField(fileName, what, name.Replace('\0', '?'), "contains a NUL byte");
        CheckNoControl(name, fileName, what);
    }

    /// <summary>Writes the whole 2560-byte header (reserved bytes zero, names zero-padded).</summary>
    public void WriteTo(Span<byte> bytes)
    {
        if (bytes.Length < Size) throw new ArgumentException($"need {Size} bytes", nameof(bytes));
        CheckStorable(BackingFile, null, "backing_file");
        CheckStorable(ImageFile, null, "image_file");
        bytes[..Size].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[8..], Version);
        StrictUtf8.GetBytes(BackingFile, bytes.Slice(BackingNameOffset, MaxNameBytes));
        StrictUtf8.GetBytes(ImageFile, bytes.Slice(ImageNameOffset, MaxNameBytes));
    }
}
