using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// Content equality of two chains over their virtual sizes, as qemu-img compare: bytes past the shorter image
/// count as equal when the longer one reads as zeroes there. Runs both chains report as zero are not read.
/// </summary>
internal sealed class ImageComparison
{
    private const int ChunkSize = 1 << 20;
    private readonly ImageChain _a, _b;
    private readonly byte[] _bufA = new byte[ChunkSize], _bufB = new byte[ChunkSize];

    public ImageComparison(ImageChain a, ImageChain b) { _a = a; _b = b; }

    /// <summary>The first guest offset whose byte differs, or -1 when the contents are equal.</summary>
    public long FirstDifference()
    {
        long common = Math.Min(_a.Size, _b.Size);
        for (long off = 0; off < common;)
        {
            var ra = _a.Status(off, common - off);
            var rb = _b.Status(off, ra.Length);
            long len = Math.Min(ra.Length, rb.Length);
            long diff = (ra.Zero, rb.Zero) switch
            {
                (true, true) => -1,
                (true, false) => FirstNonZero(_b, off, len),
                (false, true) => FirstNonZero(_a, off, len),
                _ => FirstMismatch(off, len),
            };
            if (diff >= 0) return diff;
            off += len;
        }
        var longer = _a.Size > _b.Size ? _a : _b;
        for (long off = common; off < longer.Size;)
        {
            var r = longer.Status(off, longer.Size - off);
            if (!r.Zero)
            {
                long diff = FirstNonZero(longer, off, r.Length);
                if (diff >= 0) return diff;
            }
            off += r.Length;
        }
        return -1;
    }

    /// <summary>
    /// qemu-img compare -s: the first offset where the chains' block status differs (data in one, a zero or
    /// unallocated run in the other, or present zeroes against unallocated), or -1; sizes must be equal already.
    /// </summary>
    public long FirstAllocationDifference()
    {
        for (long off = 0; off < _a.Size;)
        {
            var ra = _a.Status(off, _a.Size - off);
            var rb = _b.Status(off, ra.Length);
            if (ra.Kind != rb.Kind) return off;
            off += Math.Min(ra.Length, rb.Length);
        }
        return -1;
    }

    private long FirstMismatch(long offset, long length)
    {
        for (long pos = offset, end = offset + length; pos < end;)
        {
            int n = (int)Math.Min(ChunkSize, end - pos);
            _a.Top.Read(pos, _bufA.AsSpan(0, n));
            _b.Top.Read(pos, _bufB.AsSpan(0, n));
            int same = _bufA.AsSpan(0, n).CommonPrefixLength(_bufB.AsSpan(0, n));
            if (same < n) return pos + same;
            pos += n;
        }
        return -1;
    }

    private long FirstNonZero(ImageChain chain, long offset, long length)
    {
        for (long pos = offset, end = offset + length; pos < end;)
        {
            int n = (int)Math.Min(ChunkSize, end - pos);
            chain.Top.Read(pos, _bufA.AsSpan(0, n));
            int i = _bufA.AsSpan(0, n).IndexOfAnyExcept((byte)0);
            if (i >= 0) return pos + i;
            pos += n;
        }
        return -1;
    }
}
