using MiniVM.Devices;

namespace MiniVM.Machine.Snapshots;

/// <summary>
/// What loadvm's checking pass keeps of a state stream so it need not read the stream a second time: every section's
/// body, and the RAM pages whose bytes differ from guest RAM (the rest are already in place), up to a bound. The disks
/// are reverted only once the whole stream is known sound, and only then is this applied. Past the bound
/// (<see cref="Complete"/> false) loadvm reads the stream again instead, so memory stays bounded whatever the guest.
/// </summary>
public sealed class StagedState
{
    private const int PageSize = 4096;
    private const int PagesPerChunk = 256;
    private readonly ulong[] _inStream;
    private readonly List<int> _pages = [];
    private readonly List<byte[]> _chunks = [];
    private readonly long _limitBytes;
    private readonly List<(ISnapshottable Section, byte[] Body, int Version)> _sections = [];

    public StagedState(int ramBytes, long limitBytes)
    {
        _inStream = new ulong[(ramBytes / PageSize + 63) / 64];
        _limitBytes = limitBytes;
    }

    /// <summary>False when more pages differed than the bound allows: the stream must be read again to apply it.</summary>
    public bool Complete { get; private set; } = true;

    /// <summary>How many RAM pages differ from guest RAM and are held here.</summary>
    public int StagedPages => _pages.Count;

    internal void Section(ISnapshottable section, byte[] body, int version) => _sections.Add((section, body, version));

    /// <summary>A page of the stream, with guest RAM's current bytes of the same page.</summary>
    internal void Page(int page, ReadOnlySpan<byte> stream, ReadOnlySpan<byte> current)
    {
        _inStream[page >> 6] |= 1UL << page;
        if (!Complete || stream.SequenceEqual(current)) return;
        if ((long)(_pages.Count + 1) * PageSize > _limitBytes)
        {
            Complete = false;
            return;
        }
        int slot = _pages.Count % PagesPerChunk;
        if (slot == 0) _chunks.Add(new byte[PagesPerChunk * PageSize]);
        stream.CopyTo(_chunks[^1].AsSpan(slot * PageSize, PageSize));
        _pages.Add(page);
    }

    internal bool InStream(int page) => (_inStream[page >> 6] & (1UL << page)) != 0;

    internal IReadOnlyList<(ISnapshottable Section, byte[] Body, int Version)> Sections => _sections;

    /// <summary>Each staged page with its bytes, in stream (ascending) order.</summary>
    internal IEnumerable<(int Page, ReadOnlyMemory<byte> Bytes)> Pages()
    {
        for (int i = 0; i < _pages.Count; i++)
            yield return (_pages[i], _chunks[i / PagesPerChunk].AsMemory(i % PagesPerChunk * PageSize, PageSize));
    }
}
