using System.Buffers;
using System.IO.Compression;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// Compressed cluster writes (qcow2.txt "Compressed Clusters Descriptor"), packed as QEMU packs them: each deflated
/// cluster takes the next free bytes after the previous one, in host clusters that every compressed cluster touching
/// them counts once in its refcount.
/// </summary>
public sealed partial class Qcow2Image : ICompressedWrites
{
    /// <summary>QEMU inflates with a 4 KiB window (qcow2-threads.c: inflateInit2(-12)), so no match may reach further back.</summary>
    private const int InflateWindow = 4096;

    /// <summary>Host byte where the next compressed cluster goes, inside the last host cluster taken for them (-1: none).</summary>
    private long _compressedTail = -1;

    public int CompressionUnit => _cs;

    public void WriteCompressed(long offset, ReadOnlySpan<byte> data)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        CheckRange(offset, data.Length);
        if ((offset & (_cs - 1)) != 0 || (data.Length != _cs && offset + data.Length != _h.Size) || data.Length == 0)
            throw new ImageFormatException(FileName, $"a compressed write must cover one whole {_cs}-byte cluster (offset {offset}, length {data.Length})");
        TrimCaches();
        var cluster = ArrayPool<byte>.Shared.Rent(_cs);
        try
        {
            data.CopyTo(cluster);
            cluster.AsSpan(data.Length, _cs - data.Length).Clear();
            byte[] packed = Deflate(cluster.AsSpan(0, _cs));
            // A compressed cluster must fit in the descriptor's sector count and save at least a sector.
            if (packed.Length > _cs - 512)
            {
                WriteTree(offset, cluster.AsSpan(0, _cs));
                WriteThroughMetadata();
                return;
            }
            long host = CompressedSpace(packed.Length);
            WriteAt(host, packed);
            var (table, idx) = GetL2ForWrite(offset);
            ulong old = table.Entries[idx];
            int shift = 62 - (_clusterBits - 8);
            long extraSectors = ((host + packed.Length - 1) >> 9) - (host >> 9);
            table.Entries[idx] = Qcow2Entry.Compressed | ((ulong)extraSectors << shift) | (ulong)host;
            table.Dirty = true;
            ReleaseEntry(old);
            WriteThroughMetadata();
        }
        finally { ArrayPool<byte>.Shared.Return(cluster); }
    }

    /// <summary>
    /// Host bytes for <paramref name="length"/> compressed bytes, as QEMU's qcow2_alloc_bytes finds them: right after the
    /// previous compressed cluster when its host cluster can take one more reference, running on into the next host
    /// cluster when that one is newly allocated right behind it; else at the start of a new host cluster. Each host
    /// cluster the bytes touch gains one reference.
    /// </summary>
    private long CompressedSpace(int length)
    {
        if (_compressedTail >= 0)
        {
            long c = _compressedTail >> _clusterBits;
            long end = (c + 1) << _clusterBits;
            if (GetRefcount(c) < MaxRefcount && !_pendingFree.ContainsKey(c))
            {
                long at = _compressedTail;
                if (at + length <= end)
                {
                    AddRefcount(c, 1);
                    _compressedTail = at + length == end ? -1 : at + length;
                    return at;
                }
                long next = AllocateClusters(1);
                if (next == c + 1)
                {
                    AddRefcount(c, 1);
                    _compressedTail = at + length == ((next + 1) << _clusterBits) ? -1 : at + length;
                    return at;
                }
                _compressedTail = (next << _clusterBits) + length;
                return next << _clusterBits;
            }
        }
        long start = AllocateClusters(1) << _clusterBits;
        _compressedTail = start + length;
        return start;
    }

    /// <summary>
    /// Raw deflate of one cluster that QEMU's 4 KiB-window inflate reads: each 4 KiB piece is deflated by its own
    /// compressor (so no match reaches into an earlier piece) and ends in a sync flush, which leaves its blocks
    /// non-final and byte-aligned; the pieces concatenated form one stream, closed by the last piece's final block.
    /// </summary>
    private static byte[] Deflate(ReadOnlySpan<byte> cluster)
    {
        using var output = new MemoryStream();
        for (int p = 0; p < cluster.Length; p += InflateWindow)
        {
            var piece = cluster.Slice(p, Math.Min(InflateWindow, cluster.Length - p));
            bool last = p + piece.Length == cluster.Length;
            using var piecePacked = new MemoryStream();
            long flushed;
            using (var z = new DeflateStream(piecePacked, CompressionLevel.Optimal, leaveOpen: true))
            {
                z.Write(piece);
                z.Flush();
                flushed = piecePacked.Length;
            }
            // The bytes after the sync flush are only the final (empty) block: kept for the last piece alone.
            output.Write(piecePacked.GetBuffer(), 0, (int)(last ? piecePacked.Length : flushed));
        }
        return output.ToArray();
    }
}
