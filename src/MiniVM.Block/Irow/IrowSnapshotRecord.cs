using System.Buffers.Binary;

namespace MiniVM.Block.Irow;

/// <summary>
/// One 1184-byte state record of the meta file (irow.md §2.3): the SNAP magic big-endian, every other integer
/// little-endian (the original wrote host order on x86, §9 W11). The btmp name is the record's primary key.
/// </summary>
public readonly record struct IrowSnapshotRecord(
    string Id,
    string Name,
    string BtmpFile,
    string IrvdFile,
    string FatherBtmpFile,
    uint VmStateSize,
    uint DateSeconds,
    uint DateNanoseconds,
    ulong VmClockNanoseconds,
    uint ChildCount,
    bool IsDeleted)
{
    public const int Size = 1184;
    public const uint Magic = 0x534E4150; // "SNAP"
    public const int IdFieldLength = 128;
    public const int NameFieldLength = 256;

    public const string CurrentId = "0";
    public const string CurrentName = "current state";

    public bool IsRoot => FatherBtmpFile.Length == 0;

    public DateTimeOffset Date => DateTimeOffset.FromUnixTimeSeconds(DateSeconds).AddTicks(DateNanoseconds / 100);

    /// <summary>Date fields as the original fills them: seconds, and microseconds × 1000 (§5.1).</summary>
    public static (uint Seconds, uint Nanoseconds) DateFields(DateTimeOffset when)
    {
        long us = (when.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
        return ((uint)(us / 1_000_000), (uint)(us % 1_000_000 * 1000));
    }

    public static IrowSnapshotRecord Parse(ReadOnlySpan<byte> b, string? fileName, int index)
    {
        if (b.Length < Size) throw new ImageFormatException(fileName, $"snapshot record {index} is truncated");
        string F(string field) => $"record[{index}].{field}";
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(b);
        if (magic != Magic)
            throw ImageFormatException.BadField(fileName, F("snap_magic"), $"0x{magic:X8}", "expected 0x534E4150 (\"SNAP\")");
        string id = IrowText.Read(b.Slice(4, IdFieldLength), fileName, F("id_str"));
        string name = IrowText.Read(b.Slice(132, NameFieldLength), fileName, F("name"));
        string btmp = IrowText.Read(b.Slice(388, NameFieldLength), fileName, F("btmp_file"));
        string irvd = IrowText.Read(b.Slice(644, NameFieldLength), fileName, F("irvd_file"));
        string father = IrowText.Read(b.Slice(900, NameFieldLength), fileName, F("father_btmp_file"));
        if (btmp.Length == 0) throw ImageFormatException.BadField(fileName, F("btmp_file"), "\"\"", "is empty");
        if (irvd.Length == 0) throw ImageFormatException.BadField(fileName, F("irvd_file"), "\"\"", "is empty");
        uint deleted = BinaryPrimitives.ReadUInt32LittleEndian(b[1180..]);
        if (deleted > 1) throw ImageFormatException.BadField(fileName, F("is_deleted"), deleted, "must be 0 or 1");
        return new IrowSnapshotRecord(id, name, btmp, irvd, father,
            VmStateSize: BinaryPrimitives.ReadUInt32LittleEndian(b[1156..]),
            DateSeconds: BinaryPrimitives.ReadUInt32LittleEndian(b[1160..]),
            DateNanoseconds: BinaryPrimitives.ReadUInt32LittleEndian(b[1164..]),
            VmClockNanoseconds: BinaryPrimitives.ReadUInt64LittleEndian(b[1168..]),
            ChildCount: BinaryPrimitives.ReadUInt32LittleEndian(b[1176..]),
            IsDeleted: deleted == 1);
    }

    /// <summary>Writes all 1184 bytes; nothing of a previous record survives (§2.3).</summary>
    public void WriteTo(Span<byte> b)
    {
        b = b[..Size];
        b.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        IrowText.Write(b.Slice(4, IdFieldLength), Id, "snapshot id");
        IrowText.Write(b.Slice(132, NameFieldLength), Name, "snapshot name");
        IrowText.Write(b.Slice(388, NameFieldLength), BtmpFile, "btmp file name");
        IrowText.Write(b.Slice(644, NameFieldLength), IrvdFile, "irvd file name");
        IrowText.Write(b.Slice(900, NameFieldLength), FatherBtmpFile, "father btmp file name");
        BinaryPrimitives.WriteUInt32LittleEndian(b[1156..], VmStateSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[1160..], DateSeconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b[1164..], DateNanoseconds);
        BinaryPrimitives.WriteUInt64LittleEndian(b[1168..], VmClockNanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b[1176..], ChildCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[1180..], IsDeleted ? 1u : 0u);
    }
}
