using System.Numerics;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// A state's allocation bitmap (irow.md §2.5: bit c in byte c>>3, LSB first), held in 4 KiB pages that are read from
/// the btmp only when first touched; a page over a hole of the (sparse) btmp is known zero without a read. So a huge
/// legal image (4 TiB at 512-byte clusters: a 1 GiB bitmap) opens, answers `img info` and maps its empty ranges in
/// bounded memory (issue 11 item 8). Bits set since the last persist are tracked per page, so the write-through
/// writes only those pages (§9 W19), and only after the data they describe (§9 W1, W2).
/// </summary>
public sealed class IrowBitmap
{
    public const int PageSize = 4096;
    private const int ClustersPerPage = PageSize * 8;

    /// <summary>Stands for a page known to be all zero; replaced by a real array on the first set bit.</summary>
    private static readonly byte[] ZeroPage = new byte[PageSize];

    private readonly byte[]?[] _pages;
    private readonly bool[] _dirtyPages;
    private int _dirtyCount;
    private readonly int _byteLength;
    private SafeFileHandle? _source;
    private string _sourcePath = "";

    public long ClusterCount { get; }

    public IrowBitmap(long clusterCount)
    {
        ClusterCount = clusterCount;
        _byteLength = checked((int)((clusterCount + 7) >> 3));
        int pages = (_byteLength + PageSize - 1) / PageSize;
        _pages = new byte[pages][];
        _dirtyPages = new bool[pages];
        for (int p = 0; p < pages; p++) _pages[p] = ZeroPage; // a new state's bitmap: all clear
    }

    public int ByteLength => _byteLength;

    public bool HasDirtyPages => _dirtyCount > 0;

    private int PageLength(int p) => Math.Min(PageSize, _byteLength - p * PageSize);

    /// <summary>The page, read from the btmp on first use (holes are zero without a read).</summary>
    private byte[] Page(int p)
    {
        var page = _pages[p];
        if (page is not null) return page;
        long start = (long)p * PageSize;
        int len = PageLength(p);
        long fileLength = RandomAccess.GetLength(_source!);
        if (HostFile.TryGetAllocation(_source!, start, fileLength, out bool isData, out long runEnd) && !isData && runEnd >= start + len)
        {
            _pages[p] = ZeroPage;
            return ZeroPage;
        }
        page = new byte[PageSize];
        ReadExactly(_source!, page.AsSpan(0, len), start, _sourcePath);
        if (p == _pages.Length - 1) MaskPadding(page.AsSpan(0, len), ClusterCount - (long)p * ClustersPerPage);
        bool zero = page.AsSpan(0, len).IndexOfAnyExcept((byte)0) < 0;
        _pages[p] = zero ? ZeroPage : page;
        return _pages[p]!;
    }

    private byte[] WritablePage(int p)
    {
        var page = Page(p);
        if (ReferenceEquals(page, ZeroPage)) _pages[p] = page = new byte[PageSize];
        return page;
    }

    public bool IsSet(long cluster)
    {
        long i = cluster >> 3;
        return (Page((int)(i / PageSize))[i % PageSize] & (1 << (int)(cluster & 7))) != 0;
    }

    public void Set(long cluster)
    {
        long i = cluster >> 3;
        int p = (int)(i / PageSize);
        byte m = (byte)(1 << (int)(cluster & 7));
        if ((Page(p)[i % PageSize] & m) != 0) return;
        WritablePage(p)[i % PageSize] |= m;
        MarkDirty(p);
    }

    private void MarkDirty(int p)
    {
        if (!_dirtyPages[p]) { _dirtyPages[p] = true; _dirtyCount++; }
    }

    /// <summary>
    /// The first cluster at or after <paramref name="cluster"/> whose page may hold a set bit (pages known zero, and
    /// btmp holes, are skipped whole without being read), capped at <paramref name="limit"/>.
    /// </summary>
    public long SkipZeroPages(long cluster, long limit)
    {
        while (cluster < limit)
        {
            int p = (int)(cluster / ClustersPerPage);
            var page = _pages[p];
            if (page is null && _source is not null)
            {
                long start = (long)p * PageSize, fileLength = RandomAccess.GetLength(_source);
                if (HostFile.TryGetAllocation(_source, start, fileLength, out bool isData, out long runEnd) && !isData)
                {
                    // A hole: every page it covers whole is zero; the one it ends in is decided by reading it.
                    long wholePages = (Math.Min(runEnd, _byteLength) - start) / PageSize;
                    for (long k = 0; k < wholePages; k++) _pages[p + (int)k] ??= ZeroPage;
                    if (wholePages == 0) page = Page(p);
                    else { cluster = (p + wholePages) * (long)ClustersPerPage; continue; }
                }
                else page = Page(p);
            }
            if (!ReferenceEquals(page, ZeroPage)) return cluster;
            cluster = (p + 1L) * ClustersPerPage;
        }
        return Math.Min(cluster, limit);
    }

    /// <summary>Sets every bit set in <paramref name="other"/> (same geometry), a byte at a time.</summary>
    public void UnionWith(IrowBitmap other)
    {
        for (int p = 0; p < _pages.Length; p++)
        {
            var o = other.Page(p);
            if (ReferenceEquals(o, ZeroPage)) continue;
            var mine = Page(p);
            int len = PageLength(p);
            for (int i = 0; i < len; i++)
            {
                byte add = (byte)(o[i] & ~mine[i]);
                if (add == 0) continue;
                mine = WritablePage(p);
                mine[i] |= add;
                MarkDirty(p);
            }
        }
    }

    /// <summary>Calls <paramref name="visit"/>(first cluster, bitmap bytes) for every page with a set bit, in order.</summary>
    public void ForEachNonZeroPage(Action<long, ReadOnlyMemory<byte>> visit)
    {
        for (long c = SkipZeroPages(0, ClusterCount); c < ClusterCount; c = SkipZeroPages(c + ClustersPerPage, ClusterCount))
        {
            int p = (int)(c / ClustersPerPage);
            visit((long)p * ClustersPerPage, Page(p).AsMemory(0, PageLength(p)));
        }
    }

    /// <summary>Set bits among clusters [first, first + count) where first and count are multiples of 8.</summary>
    public long CountSet(long first, long count)
    {
        long n = 0;
        long end = Math.Min(first + count, ClusterCount);
        for (long c = first; c < end;)
        {
            c = SkipZeroPages(c, end);
            if (c >= end) break;
            int p = (int)(c / ClustersPerPage);
            long pageEnd = Math.Min((p + 1L) * ClustersPerPage, end);
            var page = Page(p);
            int from = (int)((c >> 3) - (long)p * PageSize), to = (int)(((pageEnd + 7) >> 3) - (long)p * PageSize);
            foreach (byte b in page.AsSpan(from, to - from)) n += BitOperations.PopCount(b);
            c = pageEnd;
        }
        return n;
    }

    public long CountSet() => CountSet(0, ClusterCount);

    /// <summary>
    /// Reads from a btmp file lazily: pages come in as they are touched, so <paramref name="btmp"/> must stay open
    /// while the bitmap is used. Padding bits past the last cluster are ignored (they are never meaningful).
    /// </summary>
    public void Load(SafeFileHandle btmp, string path)
    {
        long len = RandomAccess.GetLength(btmp);
        if (len < _byteLength)
            throw new ImageFormatException(path, $"btmp file is {len} bytes, shorter than its {_byteLength}-byte bitmap");
        _source = btmp;
        _sourcePath = path;
        Array.Fill(_pages, null);
        Array.Clear(_dirtyPages);
        _dirtyCount = 0;
    }

    /// <summary>Reads every page now, so the file can be closed (a bitmap used after its btmp handle is gone).</summary>
    public void LoadAll(SafeFileHandle btmp, string path)
    {
        Load(btmp, path);
        for (int p = 0; p < _pages.Length; p++) Page(p);
        _source = null;
    }

    /// <summary>Writes the dirty pages at btmp offset 0 and forgets them. The caller syncs the file.</summary>
    public void WriteDirtyPages(SafeFileHandle btmp)
    {
        if (_dirtyCount == 0) return;
        for (int p = 0; p < _dirtyPages.Length; p++)
        {
            if (!_dirtyPages[p]) continue;
            RandomAccess.Write(btmp, _pages[p]!.AsSpan(0, PageLength(p)), (long)p * PageSize);
            _dirtyPages[p] = false;
        }
        _dirtyCount = 0;
    }

    internal static void MaskPadding(Span<byte> bits, long clusterCount)
    {
        int rem = (int)(clusterCount & 7);
        if (rem != 0 && bits.Length > 0 && clusterCount <= (long)bits.Length * 8) bits[^1] &= (byte)((1 << rem) - 1);
    }

    internal static void ReadExactly(SafeFileHandle h, Span<byte> buffer, long offset, string path)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(h, buffer[done..], offset + done);
            if (n <= 0) throw new ImageFormatException(path, $"file ends at {offset + done}, needed {buffer.Length} bytes from {offset}");
            done += n;
        }
    }
}
