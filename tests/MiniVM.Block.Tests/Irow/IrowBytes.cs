using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Tests.Irow;

/// <summary>Builds iROW meta files byte by byte from the layout in irow.md §2.2/§2.3, independent of the driver.</summary>
public static class IrowBytes
{
    public const int HeaderSize = 556;
    public const int RecordSize = 1184;

    public sealed record Rec(string Id, string Name, string Btmp, string Irvd, string Father,
        uint VmStateSize = 0, uint DateSec = 0, uint DateNsec = 0, ulong VmClock = 0, uint Children = 0, uint Deleted = 0);

    public static void Str(Span<byte> field, string s) => Encoding.UTF8.GetBytes(s, field);

    public static byte[] Meta(long diskSize, int clusterBits, string currentBtmp, string backing, bool cod, params Rec[] recs)
    {
        var b = new byte[HeaderSize + recs.Length * RecordSize];
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(0), 0x49524F57);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), cod ? 1u : 0u);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), (uint)recs.Length);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), 1u << clusterBits);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), (uint)clusterBits);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), (1u << clusterBits) >> 9);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(28), (ulong)((diskSize + (1L << clusterBits) - 1) >> clusterBits));
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(36), (ulong)diskSize);
        Str(b.AsSpan(44, 256), currentBtmp);
        Str(b.AsSpan(300, 256), backing);
        for (int i = 0; i < recs.Length; i++)
        {
            var r = recs[i];
            var s = b.AsSpan(HeaderSize + i * RecordSize, RecordSize);
            BinaryPrimitives.WriteUInt32BigEndian(s, 0x534E4150);
            Str(s.Slice(4, 128), r.Id);
            Str(s.Slice(132, 256), r.Name);
            Str(s.Slice(388, 256), r.Btmp);
            Str(s.Slice(644, 256), r.Irvd);
            Str(s.Slice(900, 256), r.Father);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(1156), r.VmStateSize);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(1160), r.DateSec);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(1164), r.DateNsec);
            BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(1168), r.VmClock);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(1176), r.Children);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(1180), r.Deleted);
        }
        return b;
    }

    /// <summary>The fresh 1 GiB image of irow.md §2.8.</summary>
    public static byte[] WorkedExample() =>
        Meta(1L << 30, 16, "disk.irow-5103932a5b8d8.btmp", "", false,
            new Rec("0", "current state", "disk.irow-5103932a5b8d8.btmp", "disk.irow-5103932a5b8d8.irvd", "",
                DateSec: 1359188778, DateNsec: 375000000));
}
