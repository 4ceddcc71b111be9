using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// One entry of the snapshot table (qcow2.txt "Snapshots"; qcow3.md §2.6). Extra data beyond the fields we know is
/// kept byte for byte; v3 requires at least vm_state_size_large and disk_size there, and QEMU also writes icount.
/// </summary>
public sealed class Qcow2Snapshot
{
    public const int FixedLength = 40;
    /// <summary>QEMU's QCOW_MAX_SNAPSHOT_EXTRA_DATA.</summary>
    public const int MaxExtraData = 1024;
    /// <summary>Extra data we write for new snapshots: vm_state_size_large, disk_size, icount (-1 = not recorded).</summary>
    public const int DefaultExtraData = 24;
    /// <summary>Bound on the whole table, against hostile images (QEMU: QCOW_MAX_SNAPSHOTS_SIZE).</summary>
    public const long MaxTableBytes = 64L * 1024 * 1024;

    public long L1TableOffset { get; set; }
    public uint L1Size { get; set; }
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public uint DateSeconds { get; set; }
    public uint DateNanoseconds { get; set; }
    public ulong VmClockNanoseconds { get; set; }
    public long VmStateSize { get; set; }
    /// <summary>Virtual disk size when the snapshot was taken; null when the entry does not record it (old v2).</summary>
    public long? DiskSize { get; set; }
    public byte[] ExtraData { get; set; } = [];

    public int EntryLength => Align8(FixedLength + Math.Max(ExtraData.Length, 16) + Encoding.UTF8.GetByteCount(Id) + Encoding.UTF8.GetByteCount(Name));

    private static int Align8(int n) => (n + 7) & ~7;

    /// <summary>Reads and validates <paramref name="count"/> entries at <paramref name="offset"/>.</summary>
    /// <param name="tableBytes">Bytes the table occupies on disk (entries as stored, which may be shorter than ours).</param>
    public static List<Qcow2Snapshot> ReadTable(Func<long, int, byte[]> read, long offset, uint count, int clusterSize,
        long fileLength, string? fileName, out long tableBytes)
    {
        var list = new List<Qcow2Snapshot>((int)Math.Min(count, 1024));
        long pos = offset;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (uint i = 0; i < count; i++)
        {
            if (pos - offset > MaxTableBytes)
                throw new ImageFormatException(fileName, $"snapshot table is larger than {MaxTableBytes} bytes");
            if (pos + FixedLength > fileLength)
                throw new ImageFormatException(fileName, $"snapshot {i} runs past the end of the file");
            var f = read(pos, FixedLength);
            var s = new Qcow2Snapshot
            {
                L1TableOffset = (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(f), (ulong)long.MaxValue),
                L1Size = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(8)),
                DateSeconds = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(16)),
                DateNanoseconds = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(20)),
                VmClockNanoseconds = BinaryPrimitives.ReadUInt64BigEndian(f.AsSpan(24)),
                VmStateSize = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(32)),
            };
            int idLen = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
            int nameLen = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(14));
            uint extra = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(36));
            if (extra > MaxExtraData)
                throw ImageFormatException.BadField(fileName, $"snapshot {i} extra_data_size", extra, $"more than {MaxExtraData}");
            int varLen = (int)extra + idLen + nameLen;
            if (pos + FixedLength + varLen > fileLength)
                throw new ImageFormatException(fileName, $"snapshot {i} runs past the end of the file");
            var v = read(pos + FixedLength, varLen);
            s.ExtraData = v.AsSpan(0, (int)extra).ToArray();
            s.Id = Encoding.UTF8.GetString(v, (int)extra, idLen);
            s.Name = Encoding.UTF8.GetString(v, (int)extra + idLen, nameLen);
            if (extra >= 8)
            {
                ulong large = BinaryPrimitives.ReadUInt64BigEndian(s.ExtraData);
                if (large > (ulong)Qcow2Header.MaxOffset)
                    throw ImageFormatException.BadField(fileName, $"snapshot {i} vm_state_size_large", large, "larger than 2^56");
                s.VmStateSize = (long)large;
            }
            if (extra >= 16)
            {
                ulong ds = BinaryPrimitives.ReadUInt64BigEndian(s.ExtraData.AsSpan(8));
                if (ds > (ulong)Qcow2Header.MaxOffset)
                    throw ImageFormatException.BadField(fileName, $"snapshot {i} disk_size", ds, "larger than 2^56");
                s.DiskSize = (long)ds;
            }
            if (s.L1Size > Qcow2Header.MaxL1Entries)
                throw ImageFormatException.BadField(fileName, $"snapshot {i} l1_size", s.L1Size, $"larger than {Qcow2Header.MaxL1Entries}");
            if (s.L1Size > 0 && (s.L1TableOffset == 0 || s.L1TableOffset % clusterSize != 0 ||
                                 s.L1TableOffset >= Qcow2Header.MaxOffset || s.L1TableOffset + s.L1Size * 8L > fileLength))
                throw ImageFormatException.BadField(fileName, $"snapshot {i} l1_table_offset", s.L1TableOffset, "not a cluster-aligned table inside the file");
            if (!ids.Add(s.Id))
                throw new ImageFormatException(fileName, $"snapshot id '{s.Id}' appears twice");
            list.Add(s);
            pos += Align8(FixedLength + varLen);
        }
        tableBytes = pos - offset;
        return list;
    }

    /// <summary>Serializes a whole table; each entry padded to 8 bytes.</summary>
    public static byte[] WriteTable(IReadOnlyList<Qcow2Snapshot> snapshots)
    {
        long total = 0;
        foreach (var s in snapshots) total += s.EntryLength;
        if (total > MaxTableBytes) throw new ImageFormatException($"snapshot table would exceed {MaxTableBytes} bytes");
        var b = new byte[total];
        int pos = 0;
        foreach (var s in snapshots)
        {
            var extra = s.ExtraData.Length >= 16 ? (byte[])s.ExtraData.Clone() : new byte[16];
            if (s.ExtraData.Length < 16) s.ExtraData.CopyTo(extra, 0);
            BinaryPrimitives.WriteUInt64BigEndian(extra, (ulong)s.VmStateSize);
            BinaryPrimitives.WriteUInt64BigEndian(extra.AsSpan(8), (ulong)(s.DiskSize ?? 0));
            var id = Encoding.UTF8.GetBytes(s.Id);
            var name = Encoding.UTF8.GetBytes(s.Name);
            if (id.Length > ushort.MaxValue || name.Length > ushort.MaxValue)
                throw new ImageFormatException("snapshot id or name longer than 65535 bytes");
            var e = b.AsSpan(pos);
            BinaryPrimitives.WriteUInt64BigEndian(e, (ulong)s.L1TableOffset);
            BinaryPrimitives.WriteUInt32BigEndian(e[8..], s.L1Size);
            BinaryPrimitives.WriteUInt16BigEndian(e[12..], (ushort)id.Length);
            BinaryPrimitives.WriteUInt16BigEndian(e[14..], (ushort)name.Length);
            BinaryPrimitives.WriteUInt32BigEndian(e[16..], s.DateSeconds);
            BinaryPrimitives.WriteUInt32BigEndian(e[20..], s.DateNanoseconds);
            BinaryPrimitives.WriteUInt64BigEndian(e[24..], s.VmClockNanoseconds);
            // The 32-bit field cannot hold larger states; readers then use vm_state_size_large (qcow2.txt).
            BinaryPrimitives.WriteUInt32BigEndian(e[32..], s.VmStateSize > uint.MaxValue ? 0u : (uint)s.VmStateSize);
            BinaryPrimitives.WriteUInt32BigEndian(e[36..], (uint)extra.Length);
            extra.CopyTo(e[40..]);
            id.CopyTo(e[(40 + extra.Length)..]);
            name.CopyTo(e[(40 + extra.Length + id.Length)..]);
            pos += s.EntryLength;
        }
        return b;
    }
}
