using System.Numerics;
using MiniVM.Cpu;

namespace MiniVM.Machine.Snapshots;

/// <summary>
/// Which guest RAM pages hold non-zero bytes, kept up to date from <see cref="PhysicalMemory"/>'s write log so that
/// savevm reads only the pages written since it last looked (instead of scanning all of RAM for zero pages), and
/// loadvm clears only pages that may be non-zero. Invariant: a page that is neither in <c>_nonZero</c> nor in the
/// memory's write log is all zero. It holds at power-on (RAM zero, nothing logged) and every method keeps it.
/// </summary>
public sealed class RamOccupancy(PhysicalMemory memory)
{
    private const int PageSize = PhysicalMemory.PageSize;
    private readonly ulong[] _nonZero = new ulong[memory.RamPageWords];

    /// <summary>The non-zero pages in ascending order: pages written since the last look are read, the rest are known.</summary>
    public List<int> NonZeroPages()
    {
        var written = new ulong[_nonZero.Length];
        memory.DrainRamWriteLog(written);
        byte[] ram = memory.Ram;
        var pages = new List<int>();
        for (int w = 0; w < _nonZero.Length; w++)
        {
            for (ulong bits = written[w]; bits != 0; bits &= bits - 1)
            {
                int p = w * 64 + BitOperations.TrailingZeroCount(bits);
                if (ram.AsSpan(p * PageSize, PageSize).ContainsAnyExcept((byte)0)) _nonZero[w] |= 1UL << p;
                else _nonZero[w] &= ~(1UL << p);
            }
            for (ulong bits = _nonZero[w]; bits != 0; bits &= bits - 1) pages.Add(w * 64 + BitOperations.TrailingZeroCount(bits));
        }
        return pages;
    }

    /// <summary>
    /// Before a state load writes RAM directly: folds the write log in, so <see cref="MayBeNonZero"/> answers for
    /// every page without reading it, and <see cref="Loaded"/>/<see cref="Cleared"/> keep the answer as RAM changes.
    /// </summary>
    public void BeginLoad()
    {
        memory.DrainRamWriteLog(_nonZero);
    }

    public bool MayBeNonZero(int page) => (_nonZero[page >> 6] & (1UL << page)) != 0;

    /// <summary>A load put a page's bytes from the stream into RAM (a hostile stream's zero page is just saved again).</summary>
    public void Loaded(int page) => _nonZero[page >> 6] |= 1UL << page;

    /// <summary>A load made a page zero.</summary>
    public void Cleared(int page) => _nonZero[page >> 6] &= ~(1UL << page);
}
