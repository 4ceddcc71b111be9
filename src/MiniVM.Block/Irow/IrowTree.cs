namespace MiniVM.Block.Irow;

/// <summary>
/// The header plus every state record, validated as a tree (irow.md §4, §9 W7, W16): btmp names are unique keys,
/// every father exists, there is no cycle, exactly one current state which is a live leaf, and the depth is bounded.
/// The child counters are recomputed here from the tree, never trusted from disk.
/// </summary>
public sealed class IrowTree
{
    /// <summary>Chain depth limit (irow.md §10.3); the owner map stores layer numbers as 16-bit values.</summary>
    public const int MaxDepth = 1024;

    public IrowMetaHeader Header { get; set; }
    public List<IrowSnapshotRecord> Records { get; }

    public IrowTree(IrowMetaHeader header, List<IrowSnapshotRecord> records)
    {
        Header = header;
        Records = records;
    }

    public int CurrentIndex => IndexOfBtmp(Header.CurrentBtmp);

    public IrowSnapshotRecord Current => Records[CurrentIndex];

    public int IndexOfBtmp(string btmp)
    {
        for (int i = 0; i < Records.Count; i++)
            if (Records[i].BtmpFile == btmp) return i;
        return -1;
    }

    /// <summary>Indexes from the current state's father up to the root (nearest first).</summary>
    public List<int> AncestorsOfCurrent() => AncestorsOf(CurrentIndex);

    public List<int> AncestorsOf(int index)
    {
        var list = new List<int>();
        string father = Records[index].FatherBtmpFile;
        while (father.Length != 0)
        {
            int f = IndexOfBtmp(father);
            if (f < 0 || list.Count > MaxDepth) throw new ImageFormatException("iROW tree is inconsistent (missing father or cycle)");
            list.Add(f);
            father = Records[f].FatherBtmpFile;
        }
        return list;
    }

    /// <summary>
    /// Looks a user argument up as QEMU does: id first, then name, first match in array order (§6.1).
    /// Only live snapshots match; the current state is reported as -2.
    /// </summary>
    public int Find(string idOrName)
    {
        if (idOrName == IrowSnapshotRecord.CurrentId || idOrName == IrowSnapshotRecord.CurrentName) return -2;
        int cur = CurrentIndex;
        for (int i = 0; i < Records.Count; i++)
            if (i != cur && !Records[i].IsDeleted && Records[i].Id == idOrName) return i;
        for (int i = 0; i < Records.Count; i++)
            if (i != cur && !Records[i].IsDeleted && Records[i].Name == idOrName) return i;
        return -1;
    }

    /// <summary>The smallest integer id ≥ 1 no record uses, deleted ones included (§6.1).</summary>
    public string NextId()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in Records) used.Add(r.Id);
        for (long i = 1; ; i++)
        {
            string s = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!used.Contains(s)) return s;
        }
    }

    public bool NameInUse(string name)
    {
        foreach (var r in Records) if (r.Name == name || r.Id == name) return true;
        return false;
    }

    /// <summary>
    /// nb_children as the original maintains it (§4): children that are not deleted or still have a live child.
    /// Computed bottom-up over the validated tree.
    /// </summary>
    public uint[] ComputeChildCounts()
    {
        int n = Records.Count;
        var byBtmp = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++) byBtmp.TryAdd(Records[i].BtmpFile, i);
        var fatherIndex = new int[n];
        var depth = new int[n];
        for (int i = 0; i < n; i++)
            fatherIndex[i] = Records[i].IsRoot ? -1 : byBtmp.TryGetValue(Records[i].FatherBtmpFile, out int f) ? f : -1;
        for (int i = 0; i < n; i++)
        {
            int d = 0;
            for (int f = fatherIndex[i]; f >= 0; f = fatherIndex[f])
                if (++d > n) throw new ImageFormatException("iROW tree has a cycle");
            depth[i] = d;
        }
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (a, b) => depth[b].CompareTo(depth[a]));
        var counts = new uint[n];
        foreach (int i in order)
        {
            bool alive = !Records[i].IsDeleted || counts[i] > 0;
            if (alive && fatherIndex[i] >= 0) counts[fatherIndex[i]]++;
        }
        return counts;
    }

    /// <summary>Writes the recomputed counters into the records (before every meta write).</summary>
    public void NormalizeCounts()
    {
        var counts = ComputeChildCounts();
        for (int i = 0; i < Records.Count; i++)
            if (Records[i].ChildCount != counts[i]) Records[i] = Records[i] with { ChildCount = counts[i] };
    }

    /// <summary>Children of a record (indexes), in array order.</summary>
    public List<int> ChildrenOf(int index)
    {
        var list = new List<int>();
        string key = Records[index].BtmpFile;
        for (int i = 0; i < Records.Count; i++)
            if (Records[i].FatherBtmpFile == key) list.Add(i);
        return list;
    }

    /// <summary>Rejects every inconsistency a hostile or damaged meta file can hold, naming the record.</summary>
    public void Validate(string? fileName)
    {
        var byBtmp = new Dictionary<string, int>(StringComparer.Ordinal);
        var irvds = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Records.Count; i++)
        {
            var r = Records[i];
            if (!byBtmp.TryAdd(r.BtmpFile, i))
                throw ImageFormatException.BadField(fileName, $"record[{i}].btmp_file", r.BtmpFile, $"also used by record {byBtmp[r.BtmpFile]}");
            if (!irvds.Add(r.IrvdFile))
                throw ImageFormatException.BadField(fileName, $"record[{i}].irvd_file", r.IrvdFile, "used by two records");
            if (r.BtmpFile == r.IrvdFile)
                throw ImageFormatException.BadField(fileName, $"record[{i}].irvd_file", r.IrvdFile, "is the same file as its btmp");
        }
        if (!byBtmp.TryGetValue(Header.CurrentBtmp, out int cur))
            throw ImageFormatException.BadField(fileName, "current_btmp", Header.CurrentBtmp, "no record has this btmp file");
        if (Records[cur].IsDeleted)
            throw ImageFormatException.BadField(fileName, $"record[{cur}].is_deleted", 1, "the current state cannot be deleted");
        for (int i = 0; i < Records.Count; i++)
        {
            var r = Records[i];
            if (r.FatherBtmpFile.Length == 0) continue;
            if (!byBtmp.ContainsKey(r.FatherBtmpFile))
                throw ImageFormatException.BadField(fileName, $"record[{i}].father_btmp_file", r.FatherBtmpFile, "no record has this btmp file");
            if (r.FatherBtmpFile == Header.CurrentBtmp)
                throw ImageFormatException.BadField(fileName, $"record[{i}].father_btmp_file", r.FatherBtmpFile, "the current state must be a leaf");
        }
        // Iterative walk with a per-start step bound: a cycle of any length is caught without recursion (§9 W7).
        var state = new byte[Records.Count]; // 0 unknown, 1 reaches a root
        for (int i = 0; i < Records.Count; i++)
        {
            int steps = 0;
            int j = i;
            while (state[j] == 0)
            {
                var r = Records[j];
                if (r.FatherBtmpFile.Length == 0) break;
                j = byBtmp[r.FatherBtmpFile];
                if (++steps > Math.Min(Records.Count, MaxDepth))
                    throw ImageFormatException.BadField(fileName, $"record[{i}].father_btmp_file", Records[i].FatherBtmpFile,
                        steps > Records.Count ? "the father chain is a cycle" : $"the chain is deeper than {MaxDepth}");
            }
            for (j = i; state[j] == 0;)
            {
                state[j] = 1;
                var r = Records[j];
                if (r.FatherBtmpFile.Length == 0) break;
                j = byBtmp[r.FatherBtmpFile];
            }
        }
        if (AncestorsOf(cur).Count >= MaxDepth)
            throw new ImageFormatException(fileName, $"the current state is more than {MaxDepth} states deep");
    }
}
