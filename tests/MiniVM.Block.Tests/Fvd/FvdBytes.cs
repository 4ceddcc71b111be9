using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>FVD header bytes written field by field at the offsets of fvd.md §2.2, independent of the driver's codec.</summary>
public sealed class FvdBytes
{
    public readonly byte[] Header = new byte[8192];

    public FvdBytes(long virtualSize, long metadataSize)
    {
        U32(0, 0x5143F5A9);
        U32(4, 1);
        I32(8, 1);           // all_data_in_fvd_img
        I64(12, virtualSize);
        I64(20, metadataSize);
        I32(4300, 1);        // clean_shutdown
    }

    public FvdBytes U32(int at, uint v) { BinaryPrimitives.WriteUInt32LittleEndian(Header.AsSpan(at), v); return this; }
    public FvdBytes I32(int at, int v) { BinaryPrimitives.WriteInt32LittleEndian(Header.AsSpan(at), v); return this; }
    public FvdBytes I64(int at, long v) { BinaryPrimitives.WriteInt64LittleEndian(Header.AsSpan(at), v); return this; }
    public FvdBytes Str(int at, string s) { Encoding.ASCII.GetBytes(s, Header.AsSpan(at)); return this; }

    /// <summary>The base-image fields create writes (fvd.md §2.2 defaults).</summary>
    public FvdBytes WithBase(string name, long baseSize, int blockSize, long bitmapSize, bool copyOnRead = false)
    {
        I32(8, 0);
        Str(28, name);
        I64(1068, baseSize);
        I64(1076, 8192);
        I64(1084, bitmapSize);
        I32(1092, blockSize);
        I32(1096, copyOnRead ? 1 : 0);
        I64(1100, 2_000_000);
        I32(2148, -1);
        I32(2168, 2);
        I32(2172, ((1 << 20) + blockSize - 1) / blockSize * blockSize);
        I32(2176, 100);
        I32(2180, 100);
        I32(2184, 80);
        I32(2188, 5120);
        I32(2192, 5120);
        I32(2196, 1_000_000_000);
        I32(2200, 1_000_000_000);
        I32(2204, 30_000);
        I32(4312, 4096);
        I32(4316, -1);
        return this;
    }

    public FvdBytes WithTable(long tableOffset, long chunkSize, long growUnit)
    {
        I32(2208, 1);
        I64(2212, tableOffset);
        I64(2220, chunkSize);
        I64(2228, growUnit);
        return this;
    }

    public FvdBytes WithJournal(long offset, long size) { I64(4284, offset); I64(4292, size); return this; }

    public static byte[] BitmapSector(long sectorNum, uint count)
    {
        var s = new byte[512];
        BinaryPrimitives.WriteUInt32LittleEndian(s, 0x3F2AB8ED);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), count);
        BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(8), sectorNum);
        return s;
    }

    public static byte[] TableSector(uint firstChunk, params uint[] entries)
    {
        var s = new byte[512];
        BinaryPrimitives.WriteUInt32LittleEndian(s, 0xB4E6F7AC);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), firstChunk);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(8), (uint)entries.Length);
        for (int i = 0; i < entries.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(12 + 4 * i), entries[i]);
        return s;
    }
}
