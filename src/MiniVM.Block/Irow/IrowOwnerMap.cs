using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// For every cluster, which ancestor state owns it: 0 = none (backing file or zeroes), k = the k-th layer counted
/// from the root (1-based). Built from the ancestors' bitmaps on open and on every tree change, so a read costs the
/// same at any chain depth (irow.md §5.4, the reviewer's O(1) point, §8.1). Storage is in chunks that stay null
/// while no ancestor owns anything in them.
/// </summary>
public sealed class IrowOwnerMap
{
    private const int ChunkBits = 16;
    private const int ChunkMask = (1 << ChunkBits) - 1;

    private readonly ushort[]?[] _chunks;

    public long ClusterCount { get; }

    public IrowOwnerMap(long clusterCount)
    {
        ClusterCount = clusterCount;
        _chunks = new ushort[(clusterCount + ChunkMask) >> ChunkBits][];
    }

    /// <summary>Clusters per storage chunk; a multiple of 8 so chunks line up with bitmap bytes.</summary>
    public const int ChunkClusters = 1 << ChunkBits;

    /// <summary>True when no ancestor owns any cluster of the chunk holding <paramref name="cluster"/>.</summary>
    public bool ChunkIsEmpty(long cluster) => _chunks[cluster >> ChunkBits] is null;

    public int Get(long cluster)
    {
        var chunk = _chunks[cluster >> ChunkBits];
        return chunk is null ? 0 : chunk[cluster & ChunkMask];
    }

    public void Set(long cluster, int owner)
    {
        ref var chunk = ref _chunks[cluster >> ChunkBits];
        chunk ??= new ushort[1 << ChunkBits];
        chunk[cluster & ChunkMask] = (ushort)owner;
    }

    /// <summary>Marks every cluster set in <paramref name="bits"/> (bitmap bytes starting at cluster <paramref name="firstCluster"/>) as owned by <paramref name="owner"/>.</summary>
    public void Apply(ReadOnlySpan<byte> bits, long firstCluster, int owner)
    {
        for (int i = 0; i < bits.Length; i++)
        {
            int b = bits[i];
            if (b == 0) continue;
            long c0 = firstCluster + ((long)i << 3);
            for (int k = 0; k < 8; k++)
                if ((b & (1 << k)) != 0 && c0 + k < ClusterCount) Set(c0 + k, owner);
        }
    }

    /// <summary>Applies a bitmap read from a btmp file in bounded chunks (no whole-bitmap allocation per ancestor).</summary>
    public void ApplyFile(SafeFileHandle btmp, string path, int bitmapSize, int owner, byte[] scratch)
    {
        long len = RandomAccess.GetLength(btmp);
        if (len < bitmapSize)
            throw new ImageFormatException(path, $"btmp file is {len} bytes, shorter than its {bitmapSize}-byte bitmap");
        for (long off = 0; off < bitmapSize;)
        {
            // Holes of a sparse btmp own nothing: skip them without reading (a 1 GiB bitmap of an empty state).
            if (HostFile.TryGetAllocation(btmp, off, len, out bool isData, out long runEnd) && !isData)
            {
                off = Math.Min(runEnd, bitmapSize);
                continue;
            }
            int n = (int)Math.Min(scratch.Length, bitmapSize - off);
            IrowBitmap.ReadExactly(btmp, scratch.AsSpan(0, n), off, path);
            Apply(scratch.AsSpan(0, n), off << 3, owner);
            off += n;
        }
    }
}
