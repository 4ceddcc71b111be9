using System.Globalization;

namespace MiniVM.Block.Irow;

/// <summary>A real consistency check (irow.md §10.4) instead of the original's interactive prompt (§7, §9 W35).</summary>
public sealed partial class IrowImage
{
    public CheckResult Check(RepairMode repair = RepairMode.None)
    {
        lock (Gate)
        {
            CheckUsable();
            if (repair != RepairMode.None) CheckWritable();
            FinishReplace(); // a replace's leftovers are neither leaks nor part of any state; a check ends them
            var result = new CheckResult { TotalClusters = _totalClusters };
            IrowTree stored;
            try { stored = IrowMetaFile.Read(_metaPath); }
            catch (ImageFormatException e)
            {
                result.Corruptions++;
                result.Messages.Add(e.Message);
                return result;
            }
            bool rewriteMeta = false;
            CheckCounters(stored, repair, result, ref rewriteMeta);
            CheckNames(stored, result);
            CheckSingleRoot(stored, result);
            var referenced = new HashSet<string>(StringComparer.Ordinal);
            int cur = stored.CurrentIndex;
            for (int i = 0; i < stored.Records.Count; i++)
                CheckStateFiles(stored, i, i == cur, repair, result, referenced);
            CheckOrphans(repair, result, referenced);
            bool dropFree = CheckFreeRecords(stored, repair, result);
            if (rewriteMeta)
            {
                _tree = stored;
                CommitMeta();
            }
            if (dropFree)
            {
                Transact(() => { Reclaim(mergeDown: false); BuildChain(); return 0; });
            }
            result.AllocatedClusters = CountAllocated();
            return result;
        }
    }

    /// <summary>Clusters some state of the current chain holds; whole chunks without ancestor data count by popcount.</summary>
    private long CountAllocated()
    {
        long n = 0;
        for (long chunk = 0; chunk < _totalClusters; chunk += IrowOwnerMap.ChunkClusters)
        {
            long count = Math.Min(IrowOwnerMap.ChunkClusters, _totalClusters - chunk);
            if (_owners.ChunkIsEmpty(chunk)) { n += _curBitmap.CountSet(chunk, count); continue; }
            for (long c = chunk; c < chunk + count; c++) if (SourceOf(c) != 0) n++;
        }
        return n;
    }

    private static string Label(IrowSnapshotRecord r, int i) => $"record {i} (id '{r.Id}', name '{r.Name}')";

    private void CheckCounters(IrowTree stored, RepairMode repair, CheckResult result, ref bool rewriteMeta)
    {
        var counts = stored.ComputeChildCounts();
        for (int i = 0; i < stored.Records.Count; i++)
        {
            var r = stored.Records[i];
            if (r.ChildCount == counts[i]) continue;
            result.Corruptions++;
            result.Messages.Add($"{Label(r, i)}: nb_children is {r.ChildCount}, the tree says {counts[i]}");
            if (repair == RepairMode.All)
            {
                stored.Records[i] = r with { ChildCount = counts[i] };
                result.CorruptionsFixed++;
                rewriteMeta = true;
            }
        }
    }

    /// <summary>Every state descends from the one made at create (irow.md §10.4: "there is one root").</summary>
    private static void CheckSingleRoot(IrowTree stored, CheckResult result)
    {
        var roots = new List<string>();
        foreach (var r in stored.Records) if (r.IsRoot) roots.Add($"'{r.Id}'");
        if (roots.Count <= 1) return;
        result.Corruptions++;
        result.Messages.Add($"the state tree has {roots.Count} roots (records {string.Join(", ", roots)}), expected one");
    }

    private static void CheckNames(IrowTree stored, CheckResult result)
    {
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        int cur = stored.CurrentIndex;
        for (int i = 0; i < stored.Records.Count; i++)
        {
            var r = stored.Records[i];
            if (r.IsDeleted || i == cur || r.Name.Length == 0) continue;
            if (!names.TryAdd(r.Name, i))
            {
                result.Corruptions++;
                result.Messages.Add($"{Label(r, i)}: name also used by record {names[r.Name]}");
            }
        }
    }

    private void CheckStateFiles(IrowTree stored, int i, bool isCurrent, RepairMode repair, CheckResult result, HashSet<string> referenced)
    {
        var r = stored.Records[i];
        string btmp, irvd;
        try
        {
            btmp = Resolve(r.BtmpFile, "btmp file");
            irvd = Resolve(r.IrvdFile, "irvd file");
        }
        catch (ImageFormatException e)
        {
            result.Corruptions++;
            result.Messages.Add($"{Label(r, i)}: {e.Message}");
            return;
        }
        referenced.Add(Path.GetFullPath(btmp));
        referenced.Add(Path.GetFullPath(irvd));
        if (!File.Exists(irvd))
        {
            result.Corruptions++;
            result.Messages.Add($"{Label(r, i)}: irvd file {r.IrvdFile} is missing");
        }
        if (!File.Exists(btmp))
        {
            result.Corruptions++;
            result.Messages.Add($"{Label(r, i)}: btmp file {r.BtmpFile} is missing");
            return;
        }
        long len = new FileInfo(btmp).Length;
        long expected = _bitmapSize + (long)r.VmStateSize;
        if (len < _bitmapSize || (len < expected && r.VmStateSize > 0))
        {
            result.Corruptions++;
            result.Messages.Add($"{Label(r, i)}: btmp file is {len} bytes, needs {expected} (bitmap {_bitmapSize} + VM state {r.VmStateSize})");
            return;
        }
        if (len > expected)
        {
            result.Leaks++;
            result.Messages.Add($"{Label(r, i)}: btmp file holds {len - expected} bytes past its bitmap and VM state");
            if (repair != RepairMode.None)
            {
                if (isCurrent) RandomAccess.SetLength(_curBtmp, expected);
                else using (var h = HostFile.OpenHandle(btmp, write: true)) RandomAccess.SetLength(h, expected);
                result.LeaksFixed++;
            }
        }
        int rem = (int)(_totalClusters & 7);
        if (rem == 0) return;
        Span<byte> last = stackalloc byte[1];
        using (var h = HostFile.OpenHandle(btmp, write: false))
            IrowBitmap.ReadExactly(h, last, _bitmapSize - 1, btmp);
        byte pad = (byte)(last[0] & ~((1 << rem) - 1));
        if (pad == 0) return;
        result.Leaks++;
        result.Messages.Add($"{Label(r, i)}: bitmap padding bits past cluster {_totalClusters - 1} are set (0x{pad:x2})");
        if (repair != RepairMode.None)
        {
            last[0] &= (byte)((1 << rem) - 1);
            if (isCurrent) RandomAccess.Write(_curBtmp, last, _bitmapSize - 1);
            else using (var h = HostFile.OpenHandle(btmp, write: true)) RandomAccess.Write(h, last, _bitmapSize - 1);
            result.LeaksFixed++;
        }
    }

    /// <summary>
    /// Deleted states nothing live reads (the original's "free records", §4) keep their files until a later create
    /// reuses them: space in use for nothing, so a leak; repair drops them.
    /// </summary>
    private static bool CheckFreeRecords(IrowTree stored, RepairMode repair, CheckResult result)
    {
        bool drop = false;
        var counts = stored.ComputeChildCounts();
        for (int i = 0; i < stored.Records.Count; i++)
        {
            var r = stored.Records[i];
            if (!r.IsDeleted || counts[i] != 0) continue;
            result.Leaks++;
            result.Messages.Add($"{Label(r, i)}: deleted state that nothing reads still holds {r.BtmpFile} and {r.IrvdFile}");
            if (repair != RepairMode.None)
            {
                drop = true;
                result.LeaksFixed++;
            }
        }
        return drop;
    }

    /// <summary>State files named like this image's (&lt;meta&gt;-*.btmp/.irvd) that no record uses, and temp metas.</summary>
    private void CheckOrphans(RepairMode repair, CheckResult result, HashSet<string> referenced)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(_metaPath)) ?? ".";
        string prefix = Path.GetFileName(_metaPath) + "-";
        var orphans = new List<string>();
        foreach (var f in Directory.EnumerateFiles(dir, prefix + "*"))
        {
            if (!(f.EndsWith(".btmp", StringComparison.Ordinal) || f.EndsWith(".irvd", StringComparison.Ordinal))) continue;
            if (!referenced.Contains(Path.GetFullPath(f))) orphans.Add(f);
        }
        string tmp = IrowMetaFile.TempPathFor(_metaPath);
        if (File.Exists(tmp)) orphans.Add(tmp);
        orphans.Sort(StringComparer.Ordinal);
        foreach (var f in orphans)
        {
            result.Leaks++;
            result.Messages.Add($"leaked file {Path.GetFileName(f)} ({HostFile.AllocatedBytes(f).ToString(CultureInfo.InvariantCulture)} bytes) belongs to no state");
            if (repair == RepairMode.None) continue;
            try
            {
                File.Delete(f);
                result.LeaksFixed++;
            }
            catch (IOException e) { result.Messages.Add($"cannot remove {f}: {e.Message}"); }
            catch (UnauthorizedAccessException e) { result.Messages.Add($"cannot remove {f}: {e.Message}"); }
        }
    }
}
