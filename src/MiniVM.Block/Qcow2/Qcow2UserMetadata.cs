using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// The payload of the MiniVM user-metadata header extension (qcow3.md §4.2), big-endian like the rest of qcow2:
/// u32 payload version (1), u32 entry count, then per entry u16 key length, u32 value length, key bytes, value bytes.
/// The extension lives in cluster 0 only, so real qemu-img keeps it as an unknown extension and its check never
/// sees clusters it does not know about.
/// </summary>
public static class Qcow2UserMetadata
{
    /// <summary>
    /// Header extension type "MVKV" (MiniVM key/value). Not 0 and not one of the types qcow2.txt registers
    /// (0xE2792ACA backing format, 0x6803F857 feature names, 0x23852875 bitmaps, 0x0537BE77 FDE header,
    /// 0x44415441 external data file).
    /// </summary>
    public const uint ExtensionType = 0x4D564B56;

    public const int PayloadVersion = 1;
    public const int MaxEntries = 4096;
    public const int MaxKeyBytes = 255;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static List<KeyValuePair<string, byte[]>> Parse(ReadOnlySpan<byte> data, string? fileName)
    {
        if (data.Length < 8)
            throw new ImageFormatException(fileName, $"user metadata extension is {data.Length} bytes, shorter than its 8-byte preamble");
        uint version = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (version != PayloadVersion)
            throw ImageFormatException.BadField(fileName, "user metadata version", version, $"only version {PayloadVersion} is known");
        uint count = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        if (count > MaxEntries)
            throw ImageFormatException.BadField(fileName, "user metadata entry count", count, $"more than {MaxEntries}");
        var list = new List<KeyValuePair<string, byte[]>>((int)count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int pos = 8;
        for (int i = 0; i < count; i++)
        {
            if (data.Length - pos < 6)
                throw new ImageFormatException(fileName, $"user metadata entry {i} runs past the end of the extension");
            int keyLen = BinaryPrimitives.ReadUInt16BigEndian(data[pos..]);
            uint valueLen = BinaryPrimitives.ReadUInt32BigEndian(data[(pos + 2)..]);
            pos += 6;
            if (keyLen == 0 || keyLen > MaxKeyBytes)
                throw ImageFormatException.BadField(fileName, $"user metadata entry {i} key length", keyLen, $"must be 1..{MaxKeyBytes}");
            if (valueLen > (uint)(data.Length - pos) || keyLen > data.Length - pos - (long)valueLen)
                throw new ImageFormatException(fileName, $"user metadata entry {i} runs past the end of the extension");
            string key;
            try { key = StrictUtf8.GetString(data.Slice(pos, keyLen)); }
            catch (DecoderFallbackException) { throw new ImageFormatException(fileName, $"user metadata entry {i} key is not valid UTF-8"); }
            pos += keyLen;
            if (!seen.Add(key))
                throw new ImageFormatException(fileName, $"user metadata key '{key}' appears twice");
            list.Add(new(key, data.Slice(pos, (int)valueLen).ToArray()));
            pos += (int)valueLen;
        }
        return list;
    }

    public static byte[] Serialize(IReadOnlyList<KeyValuePair<string, byte[]>> entries)
    {
        if (entries.Count > MaxEntries)
            throw new ImageFormatException($"user metadata: more than {MaxEntries} entries");
        long total = 8;
        foreach (var kv in entries) total += 6 + Encoding.UTF8.GetByteCount(kv.Key) + (long)kv.Value.Length;
        if (total > 1 << 21)
            throw new ImageFormatException("user metadata too large for any cluster size");
        var buf = new byte[total];
        BinaryPrimitives.WriteUInt32BigEndian(buf, PayloadVersion);
        BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(4), (uint)entries.Count);
        int pos = 8;
        foreach (var kv in entries)
        {
            int kl = Encoding.UTF8.GetBytes(kv.Key, buf.AsSpan(pos + 6));
            BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(pos), (ushort)kl);
            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(pos + 2), (uint)kv.Value.Length);
            pos += 6 + kl;
            kv.Value.CopyTo(buf, pos);
            pos += kv.Value.Length;
        }
        return buf;
    }

    /// <summary>Rejects keys a reader would refuse, before anything is written.</summary>
    public static void ValidateKey(string key)
    {
        int n = Encoding.UTF8.GetByteCount(key);
        if (n == 0 || n > MaxKeyBytes)
            throw new ImageFormatException($"user metadata key '{key}' must be 1..{MaxKeyBytes} bytes of UTF-8");
        if (key.Contains('\0'))
            throw new ImageFormatException("user metadata key contains a NUL character");
    }
}
