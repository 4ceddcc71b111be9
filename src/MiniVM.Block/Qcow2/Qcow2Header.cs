using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// The qcow2 header (versions 2 and 3) with its extensions and backing file name, all of which live in cluster 0
/// (qcow2.txt "Header", "Header extensions"; qcow3.md §2.10, §4.4.1). Parse validates every field against the file;
/// ToBytes builds the whole cluster-0 prefix so that a rewrite is one write.
/// </summary>
public sealed class Qcow2Header
{
    public const uint Magic = 0x514649FB;
    public const int V2Length = 72;
    public const int V3MinLength = 104;
    /// <summary>What qemu-img 7.2 writes (104 + compression type byte + padding).</summary>
    public const int V3DefaultLength = 112;
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;
    /// <summary>QEMU's limits: 32 MiB of L1 table, 8 MiB of refcount table, 65536 snapshots.</summary>
    public const long MaxL1Entries = 32L * 1024 * 1024 / 8;
    public const long MaxRefcountTableBytes = 8L * 1024 * 1024;
    public const uint MaxSnapshots = 65536;
    public const int MaxBackingNameBytes = 1023;
    /// <summary>Offsets must stay below 2^56 (bits 56..62 of table entries are reserved).</summary>
    public const long MaxOffset = 1L << 56;

    public const ulong IncompatDirty = 1UL << 0;
    public const ulong IncompatCorrupt = 1UL << 1;
    public const ulong IncompatDataFile = 1UL << 2;
    public const ulong IncompatCompression = 1UL << 3;
    public const ulong IncompatExtendedL2 = 1UL << 4;
    public const ulong CompatLazyRefcounts = 1UL << 0;
    public const ulong AutoclearBitmaps = 1UL << 0;

    public int Version { get; set; } = 3;
    public int ClusterBits { get; set; } = 16;
    public long Size { get; set; }
    public uint CryptMethod { get; set; }
    public uint L1Size { get; set; }
    public long L1TableOffset { get; set; }
    public long RefcountTableOffset { get; set; }
    public uint RefcountTableClusters { get; set; }
    public uint SnapshotCount { get; set; }
    public long SnapshotsOffset { get; set; }
    public ulong IncompatibleFeatures { get; set; }
    public ulong CompatibleFeatures { get; set; }
    public ulong AutoclearFeatures { get; set; }
    public int RefcountOrder { get; set; } = 4;
    /// <summary>v3 header bytes from 104 up to header_length (compression type and fields we do not know), kept byte for byte.</summary>
    public byte[] TailFields { get; set; } = new byte[V3DefaultLength - V3MinLength];
    public List<Qcow2HeaderExtension> Extensions { get; } = new();
    public string? BackingFileName { get; set; }

    public int ClusterSize => 1 << ClusterBits;
    public int HeaderLength => Version == 2 ? V2Length : V3MinLength + TailFields.Length;
    public int L2Bits => ClusterBits - 3;

    public string? BackingFormat
    {
        get => Find(Qcow2HeaderExtension.BackingFormat) is { } e ? Encoding.UTF8.GetString(e.Data) : null;
        set => Put(Qcow2HeaderExtension.BackingFormat, value is null ? null : Encoding.UTF8.GetBytes(value));
    }

    public Qcow2HeaderExtension? Find(uint type)
    {
        foreach (var e in Extensions) if (e.Type == type) return e;
        return null;
    }

    /// <summary>Replaces the extension of <paramref name="type"/> in place (keeping the order), adds it, or removes it (null).</summary>
    public void Put(uint type, byte[]? data)
    {
        int i = Extensions.FindIndex(e => e.Type == type);
        if (data is null) { if (i >= 0) Extensions.RemoveAt(i); return; }
        if (i >= 0) Extensions[i] = new(type, data);
        else Extensions.Add(new(type, data));
    }

    /// <summary>Guest bytes one L2 table maps.</summary>
    public long L2Coverage => 1L << (ClusterBits + L2Bits);

    /// <summary>L1 entries needed to map <paramref name="size"/> bytes.</summary>
    public long L1EntriesFor(long size) => (size + L2Coverage - 1) >> (ClusterBits + L2Bits);

    /// <summary>Reads the cluster bits from the start of a file, validating only what is needed to size cluster 0.</summary>
    public static int PeekClusterBits(ReadOnlySpan<byte> head, string? fileName)
    {
        if (head.Length < V2Length)
            throw new ImageFormatException(fileName, $"file is {head.Length} bytes, too short for a qcow2 header");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(head);
        if (magic != Magic) throw ImageFormatException.BadField(fileName, "magic", $"0x{magic:X8}", "not a qcow2 image");
        uint bits = BinaryPrimitives.ReadUInt32BigEndian(head[20..]);
        if (bits < MinClusterBits || bits > MaxClusterBits)
            throw ImageFormatException.BadField(fileName, "cluster_bits", bits, $"must be {MinClusterBits}..{MaxClusterBits}");
        return (int)bits;
    }

    /// <summary>
    /// Parses and validates cluster 0 (<paramref name="cluster0"/> is the first cluster, shorter when the file is).
    /// Feature bits are checked by the image, which knows whether it opens for writing.
    /// </summary>
    public static Qcow2Header Parse(ReadOnlySpan<byte> cluster0, long fileLength, string? fileName)
    {
        int bits = PeekClusterBits(cluster0, fileName);
        var h = new Qcow2Header { ClusterBits = bits };
        uint version = BinaryPrimitives.ReadUInt32BigEndian(cluster0[4..]);
        if (version != 2 && version != 3)
            throw ImageFormatException.BadField(fileName, "version", version, "only qcow2 versions 2 and 3 are supported");
        h.Version = (int)version;
        ulong backingOffset = BinaryPrimitives.ReadUInt64BigEndian(cluster0[8..]);
        uint backingSize = BinaryPrimitives.ReadUInt32BigEndian(cluster0[16..]);
        ulong size = BinaryPrimitives.ReadUInt64BigEndian(cluster0[24..]);
        h.CryptMethod = BinaryPrimitives.ReadUInt32BigEndian(cluster0[32..]);
        h.L1Size = BinaryPrimitives.ReadUInt32BigEndian(cluster0[36..]);
        ulong l1Offset = BinaryPrimitives.ReadUInt64BigEndian(cluster0[40..]);
        ulong rtOffset = BinaryPrimitives.ReadUInt64BigEndian(cluster0[48..]);
        h.RefcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(cluster0[56..]);
        h.SnapshotCount = BinaryPrimitives.ReadUInt32BigEndian(cluster0[60..]);
        ulong snOffset = BinaryPrimitives.ReadUInt64BigEndian(cluster0[64..]);
        int cs = 1 << bits;

        int headerLength = V2Length;
        if (version == 3)
        {
            if (cluster0.Length < V3MinLength)
                throw new ImageFormatException(fileName, $"file is {cluster0.Length} bytes, too short for a version 3 header");
            h.IncompatibleFeatures = BinaryPrimitives.ReadUInt64BigEndian(cluster0[72..]);
            h.CompatibleFeatures = BinaryPrimitives.ReadUInt64BigEndian(cluster0[80..]);
            h.AutoclearFeatures = BinaryPrimitives.ReadUInt64BigEndian(cluster0[88..]);
            uint order = BinaryPrimitives.ReadUInt32BigEndian(cluster0[96..]);
            if (order > 6) throw ImageFormatException.BadField(fileName, "refcount_order", order, "must be 0..6");
            h.RefcountOrder = (int)order;
            uint hl = BinaryPrimitives.ReadUInt32BigEndian(cluster0[100..]);
            if ((hl < V3MinLength || hl % 8 != 0 || hl > cs) && LooksLike2008Qcow3(cluster0, backingOffset, backingSize))
                throw new ImageFormatException(fileName,
                    $"this is the 2008 'qcow3' patch layout (key:value metadata at offset {backingOffset}), which is not supported; only QEMU qcow2 versions 2 and 3 are");
            if (hl < V3MinLength || hl % 8 != 0 || hl > cs)
                throw ImageFormatException.BadField(fileName, "header_length", hl, $"must be a multiple of 8 in {V3MinLength}..{cs}");
            if (hl > cluster0.Length)
                throw ImageFormatException.BadField(fileName, "header_length", hl, "runs past the end of the file");
            headerLength = (int)hl;
            h.TailFields = cluster0[V3MinLength..headerLength].ToArray();
        }
        else
        {
            h.RefcountOrder = 4;
            h.TailFields = [];
        }

        if (h.CryptMethod != 0)
            throw ImageFormatException.BadField(fileName, "crypt_method", h.CryptMethod, "encrypted images are not supported");
        if (size > (ulong)MaxOffset)
            throw ImageFormatException.BadField(fileName, "size", size, $"larger than {MaxOffset}");
        h.Size = (long)size;
        long needL1 = h.L1EntriesFor(h.Size);
        if (needL1 > MaxL1Entries)
            throw ImageFormatException.BadField(fileName, "size", size, "needs an L1 table larger than 32 MiB");
        if (h.L1Size < needL1)
            throw ImageFormatException.BadField(fileName, "l1_size", h.L1Size, $"too small for the disk size (needs {needL1})");
        if (h.L1Size > MaxL1Entries)
            throw ImageFormatException.BadField(fileName, "l1_size", h.L1Size, $"larger than {MaxL1Entries} entries (32 MiB)");
        h.L1TableOffset = CheckTable(fileName, "l1_table_offset", l1Offset, h.L1Size * 8L, cs, fileLength, h.L1Size > 0);

        if (h.RefcountTableClusters == 0 || (long)h.RefcountTableClusters * cs > MaxRefcountTableBytes)
            throw ImageFormatException.BadField(fileName, "refcount_table_clusters", h.RefcountTableClusters, "must be 1 up to 8 MiB of table");
        h.RefcountTableOffset = CheckTable(fileName, "refcount_table_offset", rtOffset, (long)h.RefcountTableClusters * cs, cs, fileLength, true);

        if (h.SnapshotCount > MaxSnapshots)
            throw ImageFormatException.BadField(fileName, "nb_snapshots", h.SnapshotCount, $"more than {MaxSnapshots}");
        h.SnapshotsOffset = CheckTable(fileName, "snapshots_offset", snOffset, h.SnapshotCount * 40L, cs, fileLength, h.SnapshotCount > 0);

        // Extensions end where the backing name starts, or at the end of cluster 0 (QEMU's ext_end).
        int area = Math.Min(cs, cluster0.Length);
        if (backingOffset != 0)
        {
            if (backingSize == 0 || backingSize > MaxBackingNameBytes)
                throw ImageFormatException.BadField(fileName, "backing_file_size", backingSize, $"must be 1..{MaxBackingNameBytes}");
            if (backingOffset < (ulong)headerLength || backingOffset + backingSize > (ulong)area)
                throw ImageFormatException.BadField(fileName, "backing_file_offset", backingOffset, "backing file name must lie in cluster 0 after the header");
            var nameBytes = cluster0.Slice((int)backingOffset, (int)backingSize);
            if (nameBytes.IndexOf((byte)0) >= 0)
                throw new ImageFormatException(fileName, "backing file name contains a NUL byte");
            h.BackingFileName = Encoding.UTF8.GetString(nameBytes);
            area = (int)backingOffset;
        }

        ParseExtensions(h, cluster0, headerLength, area, fileName);
        return h;
    }

    /// <summary>
    /// McCallum's 2008 patch stored version 3 with a "key:value\0" area where qcow2 keeps the backing name
    /// (qcow3.md §1, §4.1): recognise it to say so instead of reporting a random header_length.
    /// </summary>
    private static bool LooksLike2008Qcow3(ReadOnlySpan<byte> cluster0, ulong offset, uint size)
    {
        if (offset < V2Length || size == 0 || offset + size > (ulong)cluster0.Length) return false;
        var area = cluster0.Slice((int)offset, (int)size);
        int colon = area.IndexOf((byte)':'), nul = area.IndexOf((byte)0);
        return colon > 0 && (nul < 0 || colon < nul);
    }

    private static long CheckTable(string? fileName, string field, ulong offset, long bytes, int cs, long fileLength, bool required)
    {
        if (!required) return (long)Math.Min(offset, (ulong)MaxOffset);
        if (offset == 0 || offset % (ulong)cs != 0 || offset >= (ulong)MaxOffset)
            throw ImageFormatException.BadField(fileName, field, offset, "must be a non-zero cluster-aligned offset below 2^56");
        if ((long)offset + bytes > fileLength)
            throw ImageFormatException.BadField(fileName, field, offset, $"table of {bytes} bytes runs past the end of the file ({fileLength} bytes)");
        return (long)offset;
    }

    private static void ParseExtensions(Qcow2Header h, ReadOnlySpan<byte> cluster0, int start, int end, string? fileName)
    {
        int pos = start;
        var seen = new HashSet<uint>();
        while (true)
        {
            // A v2 image from old QEMU may end the header area without an end marker when nothing follows.
            if (end - pos < 8)
            {
                if (pos >= end) return;
                throw new ImageFormatException(fileName, $"header extension at offset {pos} runs past the extension area (ends at {end})");
            }
            uint type = BinaryPrimitives.ReadUInt32BigEndian(cluster0[pos..]);
            uint len = BinaryPrimitives.ReadUInt32BigEndian(cluster0[(pos + 4)..]);
            if (type == 0) return;
            if (len > (uint)(end - pos - 8))
                throw ImageFormatException.BadField(fileName, $"header extension 0x{type:X8} length", len, $"runs past the extension area (ends at {end})");
            if (!seen.Add(type))
                throw new ImageFormatException(fileName, $"header extension 0x{type:X8} appears twice");
            h.Extensions.Add(new Qcow2HeaderExtension(type, cluster0.Slice(pos + 8, (int)len).ToArray()));
            pos += 8 + (int)((len + 7) & ~7u);
        }
    }

    /// <summary>
    /// The complete cluster-0 prefix: header, v3 tail fields, extensions in order, end marker, backing name.
    /// Throws when it does not fit in one cluster (qcow3.md §4.2).
    /// </summary>
    public byte[] ToBytes()
    {
        byte[]? name = BackingFileName is null ? null : Encoding.UTF8.GetBytes(BackingFileName);
        if (name is not null && (name.Length == 0 || name.Length > MaxBackingNameBytes))
            throw new ImageFormatException($"backing file name must be 1..{MaxBackingNameBytes} bytes");
        int len = HeaderLength;
        foreach (var e in Extensions) len += 8 + ((e.Data.Length + 7) & ~7);
        len += 8;
        int nameOffset = len;
        if (name is not null) len += name.Length;
        if (len > ClusterSize)
            throw new ImageFormatException($"header, extensions and backing name need {len} bytes, more than the {ClusterSize}-byte cluster 0 (user metadata too large for this cluster size?)");
        var b = new byte[len];
        var s = b.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(s, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(s[4..], (uint)Version);
        BinaryPrimitives.WriteUInt64BigEndian(s[8..], name is null ? 0UL : (ulong)nameOffset);
        BinaryPrimitives.WriteUInt32BigEndian(s[16..], name is null ? 0u : (uint)name.Length);
        BinaryPrimitives.WriteUInt32BigEndian(s[20..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(s[24..], (ulong)Size);
        BinaryPrimitives.WriteUInt32BigEndian(s[32..], CryptMethod);
        BinaryPrimitives.WriteUInt32BigEndian(s[36..], L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(s[40..], (ulong)L1TableOffset);
        BinaryPrimitives.WriteUInt64BigEndian(s[48..], (ulong)RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(s[56..], RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(s[60..], SnapshotCount);
        BinaryPrimitives.WriteUInt64BigEndian(s[64..], (ulong)SnapshotsOffset);
        if (Version == 3)
        {
            BinaryPrimitives.WriteUInt64BigEndian(s[72..], IncompatibleFeatures);
            BinaryPrimitives.WriteUInt64BigEndian(s[80..], CompatibleFeatures);
            BinaryPrimitives.WriteUInt64BigEndian(s[88..], AutoclearFeatures);
            BinaryPrimitives.WriteUInt32BigEndian(s[96..], (uint)RefcountOrder);
            BinaryPrimitives.WriteUInt32BigEndian(s[100..], (uint)HeaderLength);
            TailFields.CopyTo(s[V3MinLength..]);
        }
        int pos = HeaderLength;
        foreach (var e in Extensions)
        {
            BinaryPrimitives.WriteUInt32BigEndian(s[pos..], e.Type);
            BinaryPrimitives.WriteUInt32BigEndian(s[(pos + 4)..], (uint)e.Data.Length);
            e.Data.CopyTo(s[(pos + 8)..]);
            pos += 8 + ((e.Data.Length + 7) & ~7);
        }
        pos += 8; // end marker: type 0, length 0
        name?.CopyTo(s[pos..]);
        return b;
    }
}
