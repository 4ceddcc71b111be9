using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// The allocation of a whole image as cells of equal guest size, each with the owner that holds it
/// (<see cref="MapOwners"/>), or <see cref="Zero"/> / <see cref="Unallocated"/>, and where its first data byte lives on
/// the host. What the map picture draws and the explorer page shows. A cell is one cluster (raw: 64 KiB) unless the
/// image has more than the caller's cell budget: then a power of two of clusters merge into one cell, so cells and rows
/// keep round sizes, and a merged cell shows its largest data owner (data wins over zero over unallocated).
/// </summary>
internal sealed class AllocationMap
{
    public const int Unallocated = -2;
    public const int Zero = -1;
    public const long RawCellBytes = 64 * 1024;

    public long ImageSize { get; }
    public long ClusterSize { get; }
    public long CellBytes { get; }
    public int CellCount => Owners.Length;

    /// <summary>Per cell: an owner number, <see cref="Zero"/> or <see cref="Unallocated"/>.</summary>
    public int[] Owners { get; }

    /// <summary>Per cell: index into <see cref="HostFiles"/> of its first data byte's file, or -1 (no data in the cell).</summary>
    public int[] HostFile { get; }

    /// <summary>Per cell: the host offset of its first data byte, or -1.</summary>
    public long[] HostOffset { get; }

    public List<string> HostFiles { get; } = [];

    /// <summary>The chain depth each owner's data came from (0 = the top layer).</summary>
    private readonly Dictionary<int, int> _ownerDepth = [];

    /// <summary>The first owner number of the mapped state: MapOwners names the top layer's current state last.</summary>
    private int _thisStateFrom;

    /// <summary>Bytes of the view held by data from chain depth <paramref name="depth"/>.</summary>
    public long BytesAtDepth(int depth)
    {
        long sum = 0;
        foreach (var (owner, d) in _ownerDepth)
            if (d == depth) sum += OwnerBytes[owner];
        return sum;
    }

    /// <summary>The chain depth owner <paramref name="owner"/>'s data came from; -1 when it holds nothing in this view.</summary>
    public int DepthOf(int owner) => _ownerDepth.TryGetValue(owner, out int d) ? d : -1;

    /// <summary>The owners whose data came from chain depth <paramref name="depth"/>.</summary>
    public IEnumerable<int> OwnersAtDepth(int depth) => _ownerDepth.Where(p => p.Value == depth).Select(p => p.Key).Order();

    /// <summary>
    /// True for data the mapped state holds itself: it came from the top layer, and it is not an earlier state kept in
    /// that layer (MapOwners numbers a layer's states root first, the current one last; files found later in the walk,
    /// such as an add-cow overlay's data file, are the top layer's too).
    /// </summary>
    public bool IsThisState(int owner) => _ownerDepth.TryGetValue(owner, out int d) && d == 0 && owner >= _thisStateFrom;

    /// <summary>Bytes per owner number, and of the two kinds without data.</summary>
    public List<long> OwnerBytes { get; } = [];
    public long ZeroBytes { get; private set; }
    public long UnallocatedBytes { get; private set; }

    private AllocationMap(long size, long cluster, long cellBytes, int cells)
    {
        ImageSize = size;
        ClusterSize = cluster;
        CellBytes = cellBytes;
        Owners = new int[cells];
        HostFile = new int[cells];
        HostOffset = new long[cells];
        Array.Fill(HostFile, -1);
        Array.Fill(HostOffset, -1L);
    }

    /// <summary>Walks the chain's block status once; at most <paramref name="maxCells"/> cells.</summary>
    public static AllocationMap Of(ImageChain chain, MapOwners owners, int maxCells)
    {
        long cluster = chain.Top is IImageInfo { ClusterSize: > 0 } info ? info.ClusterSize : RawCellBytes;
        long size = chain.Size;
        long clusters = Math.Max(1, (size + cluster - 1) / cluster);
        long perCell = 1;
        while ((clusters + perCell - 1) / perCell > maxCells) perCell *= 2;
        long cellBytes = cluster * perCell;
        var map = new AllocationMap(size, cluster, cellBytes, (int)Math.Max(1, (size + cellBytes - 1) / cellBytes))
        {
            _thisStateFrom = owners.Labels.Count - 1,
        };
        map.Fill(chain, owners);
        while (map.OwnerBytes.Count < owners.Labels.Count) map.OwnerBytes.Add(0);
        return map;
    }

    private void Fill(ImageChain chain, MapOwners owners)
    {
        var tally = new CellTally();
        var fileIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        long size = ImageSize;
        if (size == 0) { Owners[0] = Unallocated; return; }
        for (long off = 0; off < size;)
        {
            var r = chain.Status(off, size - off);
            int who = r.Kind switch
            {
                ExtentKind.Data => owners.IndexOf(r.Depth, r.File),
                ExtentKind.Zero => Zero,
                _ => Unallocated,
            };
            if (who >= 0)
            {
                while (OwnerBytes.Count <= who) OwnerBytes.Add(0);
                _ownerDepth[who] = r.Depth;
                OwnerBytes[who] += r.Length;
            }
            else if (who == Zero) ZeroBytes += r.Length;
            else UnallocatedBytes += r.Length;

            long end = off + r.Length;
            for (long pos = off; pos < end;)
            {
                int c = (int)(pos / CellBytes);
                long cellStart = c * CellBytes, cellEnd = Math.Min(cellStart + CellBytes, size);
                long n = Math.Min(end, cellEnd) - pos;
                if (who >= 0 && HostFile[c] < 0 && r.File is not null && r.HostOffset >= 0)
                {
                    if (!fileIndex.TryGetValue(r.File, out int fi))
                    {
                        fi = HostFiles.Count;
                        HostFiles.Add(r.File);
                        fileIndex[r.File] = fi;
                    }
                    HostFile[c] = fi;
                    HostOffset[c] = r.HostOffset + (pos - off);
                }
                if (pos == cellStart && pos + n == cellEnd) Owners[c] = who;
                else
                {
                    tally.Add(who, n);
                    if (pos + n == cellEnd) Owners[c] = tally.TakeWinner();
                }
                pos += n;
            }
            off = end;
        }
    }

    /// <summary>
    /// The owners of one cell that several runs share (a merged cell, or a run ending mid-cluster): data wins over
    /// zero over unallocated, and among data the owner with the most bytes. Cells hold few runs, so a short list.
    /// </summary>
    private sealed class CellTally
    {
        private readonly List<(int Who, long Bytes)> _parts = [];

        public void Add(int who, long bytes)
        {
            for (int i = 0; i < _parts.Count; i++)
                if (_parts[i].Who == who) { _parts[i] = (who, _parts[i].Bytes + bytes); return; }
            _parts.Add((who, bytes));
        }

        public int TakeWinner()
        {
            int best = Unallocated;
            long bestBytes = -1;
            foreach (var (who, bytes) in _parts)
            {
                bool better = who >= 0 ? best < 0 || bytes > bestBytes : who == Zero && best == Unallocated;
                if (better) { best = who; bestBytes = bytes; }
            }
            _parts.Clear();
            return best;
        }
    }
}
