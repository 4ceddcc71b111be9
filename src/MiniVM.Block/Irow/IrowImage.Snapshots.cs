using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>Snapshot operations (irow.md §6), with merge-down delete and crash-safe ordering.</summary>
public sealed partial class IrowImage
{
    public IReadOnlyList<SnapshotInfo> ListSnapshots()
    {
        lock (Gate)
        {
            CheckUsable();
            // Deleted records and the current state are not snapshots a user can name (§6.6 lists the current
            // state too; the block-layer contract lists snapshots only).
            var list = new List<SnapshotInfo>();
            int cur = _tree.CurrentIndex;
            for (int i = 0; i < _tree.Records.Count; i++)
            {
                var r = _tree.Records[i];
                if (i == cur || r.IsDeleted) continue;
                list.Add(ToInfo(r));
            }
            return list;
        }
    }

    private SnapshotInfo ToInfo(IrowSnapshotRecord r) =>
        new(r.Id, r.Name, r.VmStateSize, r.Date, (long)r.VmClockNanoseconds, VisibleParentId(r));

    /// <summary>The nearest ancestor a user can see: deleted records kept for their children are skipped.</summary>
    private string? VisibleParentId(IrowSnapshotRecord r)
    {
        for (int depth = 0; !r.IsRoot && depth <= IrowTree.MaxDepth + _tree.Records.Count; depth++)
        {
            int f = _tree.IndexOfBtmp(r.FatherBtmpFile);
            if (f < 0) return null;
            r = _tree.Records[f];
            if (!r.IsDeleted) return r.Id;
        }
        return null;
    }

    /// <summary>Id of the snapshot the current state was taken from or reverted to (null when it is the root).</summary>
    public string? CurrentParentId
    {
        get
        {
            lock (Gate)
            {
                return VisibleParentId(_tree.Current);
            }
        }
    }

    public SnapshotInfo CreateSnapshot(string name, long vmClockNanoseconds = 0, Action<Stream>? writeVmState = null)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            if (string.IsNullOrEmpty(name)) throw new ImageFormatException(_metaPath, "a snapshot needs a name");
            IrowText.CheckFits(name, IrowSnapshotRecord.NameFieldLength, "snapshot name");
            if (name == IrowSnapshotRecord.CurrentName || name == IrowSnapshotRecord.CurrentId || _tree.NameInUse(name))
                throw new ImageFormatException(_metaPath, $"a snapshot named '{name}' already exists");
            if (_chain.Length + 1 >= IrowTree.MaxDepth)
                throw new ImageFormatException(_metaPath, $"the snapshot chain cannot grow past {IrowTree.MaxDepth} states");
            return Transact(() => CreateSnapshotCore(name, vmClockNanoseconds, writeVmState));
        }
    }

    private SnapshotInfo CreateSnapshotCore(string name, long vmClock, Action<Stream>? writeVmState)
    {
        var now = DateTimeOffset.UtcNow;
        // Right after a replace's delete: the VM state overwrites the old one in place and the btmp gets its exact
        // length below; the current state's empty files become the new current state's.
        var leftovers = _replaceLeftovers;
        _replaceLeftovers = null;
        // 1. The VM state goes into the current btmp right after the bitmap (§6.5); that btmp becomes the snapshot's.
        uint vmSize = 0;
        if (writeVmState is not null)
        {
            using var s = new IrowVmStateStream(_curBtmp, _curBtmpPath, _bitmapSize, 0, writable: true, ownsHandle: false);
            writeVmState(s);
            vmSize = checked((uint)s.Length);
        }
        RandomAccess.SetLength(_curBtmp, _bitmapSize + (long)vmSize);
        // 2. Everything the snapshot consists of is durable before the meta names it a snapshot.
        HostFile.SyncData(_curIrvd, _curIrvdPath);
        _curBitmap.WriteDirtyPages(_curBtmp);
        HostFile.SyncData(_curBtmp, _curBtmpPath);

        // 3. Files for the new current state: the empty ones the current state just gave up (TakeOverFiles), a free
        // record's (§6.2), reset first (W4, W18), or new ones.
        int free = -1;
        var counts = _tree.ComputeChildCounts();
        for (int i = 0; i < _tree.Records.Count; i++)
            if (_tree.Records[i].IsDeleted && counts[i] == 0) { free = i; break; }
        string btmpName, irvdName;
        if (leftovers?.SpareBtmp is { } spareBtmp && leftovers.SpareIrvd is { } spareIrvd)
        {
            (btmpName, irvdName) = (spareBtmp, spareIrvd);
            free = -1;
        }
        else if (free >= 0)
        {
            btmpName = _tree.Records[free].BtmpFile;
            irvdName = _tree.Records[free].IrvdFile;
            ResetStateFiles(Resolve(btmpName, "btmp file"), Resolve(irvdName, "irvd file"));
        }
        else
        {
            (btmpName, irvdName) = CreateStateFiles(_metaPath, _bitmapSize, Size, now);
        }

        // 4. Records: the old current becomes the snapshot, a new current is its child. Commit atomically.
        int cur = _tree.CurrentIndex;
        var old = _tree.Records[cur];
        var (sec, nsec) = IrowSnapshotRecord.DateFields(now);
        string id = _tree.NextId();
        var snapshot = old with
        {
            Id = id, Name = name, VmStateSize = vmSize, DateSeconds = sec, DateNanoseconds = nsec,
            VmClockNanoseconds = (ulong)Math.Max(0, vmClock),
        };
        _tree.Records[cur] = snapshot;
        if (free >= 0) _tree.Records.RemoveAt(free);
        _tree.Records.Add(new IrowSnapshotRecord(IrowSnapshotRecord.CurrentId, IrowSnapshotRecord.CurrentName,
            btmpName, irvdName, old.BtmpFile, 0, sec, nsec, 0, 0, false));
        _tree.Header = _tree.Header with { CurrentBtmp = btmpName };
        CommitMeta();

        // 5. In memory: the old current joins the chain as its newest layer; its bitmap becomes owner entries.
        string oldBtmpPath = _curBtmpPath, oldIrvdPath = _curIrvdPath;
        int layer = _chain.Length + 1;
        _curBitmap.ForEachNonZeroPage((first, bytes) => _owners.Apply(bytes.Span, first, layer));
        var chain = new IrowLayer[_chain.Length + 1];
        _chain.CopyTo(chain, 0);
        chain[^1] = new IrowLayer(snapshot, _curIrvd, oldIrvdPath, oldBtmpPath);
        _chain = chain;
        _curBtmp.Dispose();
        _curBtmpPath = Resolve(btmpName, "btmp file");
        _curIrvdPath = Resolve(irvdName, "irvd file");
        _curBtmp = HostFile.OpenHandle(_curBtmpPath, write: true);
        _curIrvd = HostFile.OpenHandle(_curIrvdPath, write: true);
        _curIrvdLength = RandomAccess.GetLength(_curIrvd);
        _curBitmap = new IrowBitmap(_totalClusters);
        _btmpUnsynced = false;
        return ToInfo(snapshot);
    }

    /// <summary>A reused state's files are emptied and made durable before the meta points at them (§9 W4, W18).</summary>
    private void ResetStateFiles(string btmpPath, string irvdPath)
    {
        using (var b = HostFile.OpenHandle(btmpPath, write: true))
        {
            RandomAccess.SetLength(b, 0);
            RandomAccess.SetLength(b, _bitmapSize);
            HostFile.SyncData(b, btmpPath);
        }
        using (var d = HostFile.OpenHandle(irvdPath, write: true))
        {
            RandomAccess.SetLength(d, 0);
            RandomAccess.SetLength(d, Size);
            HostFile.SyncData(d, irvdPath);
        }
    }

    /// <summary>
    /// Makes a new state's btmp (zero bitmap) and sparse irvd named &lt;meta&gt;-&lt;T&gt; (§3), with create-new
    /// semantics so no existing file is ever truncated; a taken name moves T on by a microsecond.
    /// Returns the stored (plain) names.
    /// </summary>
    internal static (string Btmp, string Irvd) CreateStateFiles(string metaPath, int bitmapSize, long diskSize, DateTimeOffset when)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(metaPath)) ?? ".";
        string baseName = Path.GetFileName(metaPath);
        var (sec, nsec) = IrowSnapshotRecord.DateFields(when);
        long usec = nsec / 1000;
        for (int attempt = 0; attempt < 1000; attempt++, usec++)
        {
            long s = sec + usec / 1_000_000, u = usec % 1_000_000;
            string stem = $"{baseName}-{s.ToString("x", CultureInfo.InvariantCulture)}{u.ToString("x", CultureInfo.InvariantCulture)}";
            string btmp = stem + ".btmp", irvd = stem + ".irvd";
            IrowText.CheckFits(btmp, IrowMetaHeader.NameFieldLength, "btmp file name (from the meta file name)");
            string btmpPath = Path.Combine(dir, btmp), irvdPath = Path.Combine(dir, irvd);
            if (File.Exists(btmpPath) || File.Exists(irvdPath)) continue;
            SafeFileHandle? b = null, d = null;
            try
            {
                b = File.OpenHandle(btmpPath, FileMode.CreateNew, FileAccess.ReadWrite);
                try { d = File.OpenHandle(irvdPath, FileMode.CreateNew, FileAccess.ReadWrite); }
                catch (IOException) when (File.Exists(irvdPath))
                {
                    b.Dispose(); b = null;
                    File.Delete(btmpPath);
                    continue;
                }
                RandomAccess.SetLength(b, bitmapSize);
                RandomAccess.SetLength(d, diskSize); // sparse: no preallocation (§9 W17)
                HostFile.SyncData(b, btmpPath);
                HostFile.SyncData(d, irvdPath);
            }
            catch (IOException) when (b is null && File.Exists(btmpPath))
            {
                continue; // another writer took the name between the check and the create
            }
            catch (IOException e) { throw new ImageFormatException(metaPath, $"cannot create state files: {e.Message}"); }
            catch (UnauthorizedAccessException e) { throw new ImageFormatException(metaPath, $"cannot create state files: {e.Message}"); }
            finally
            {
                b?.Dispose();
                d?.Dispose();
            }
            HostFile.SyncDirectory(dir);
            return (btmp, irvd);
        }
        throw new ImageFormatException(metaPath, "cannot find a free name for new state files");
    }

    public void RevertToSnapshot(string idOrName)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            int t = _tree.Find(idOrName);
            if (t == -2) return; // goto the current state is a no-op (§6.3)
            if (t < 0) throw new ImageFormatException(_metaPath, $"no snapshot '{idOrName}'");
            Transact(() =>
            {
                RevertCore(t);
                return 0;
            });
        }
    }

    /// <summary>
    /// Revert as one meta commit: the current state moves to fresh empty files under the target (made durable first),
    /// and the single rename of the meta file switches from the old current state to the new one. A crash before the
    /// rename leaves the old state whole (the new files are leaks check reports); after it, the new state, with the old
    /// files as leaks until they are deleted. The original cleared the current bitmap in place before the meta named
    /// the new father, so a crash between read the old father's data (issue 11).
    /// </summary>
    private void RevertCore(int t)
    {
        var target = _tree.Records[t];
        if (_curBitmap.CountSet() == 0)
        {
            RevertEmptyCurrent(target);
            return;
        }
        var (btmpName, irvdName) = CreateStateFiles(_metaPath, _bitmapSize, Size, DateTimeOffset.UtcNow);
        int cur = _tree.CurrentIndex;
        var old = _tree.Records[cur];
        _tree.Records[cur] = old with
        {
            BtmpFile = btmpName, IrvdFile = irvdName,
            FatherBtmpFile = target.BtmpFile, DateSeconds = target.DateSeconds,
            DateNanoseconds = target.DateNanoseconds, VmClockNanoseconds = target.VmClockNanoseconds, VmStateSize = 0,
        };
        _tree.Header = _tree.Header with { CurrentBtmp = btmpName };
        CommitMeta();
        string oldBtmp = _curBtmpPath, oldIrvd = _curIrvdPath;
        _curBtmp.Dispose();
        _curIrvd.Dispose();
        OpenCurrent();
        _btmpUnsynced = false;
        DeleteFiles([oldBtmp, oldIrvd]);
        Reclaim();
        BuildChain();
    }

    /// <summary>
    /// Revert when the current state holds no cluster (nothing written since the last snapshot, revert or replace,
    /// e.g. loadvm right after savevm): its files are already what fresh ones would be (a zero bitmap; bits are only
    /// ever set after their data), so the current record only gets the target as its father (§6.3 steps 4-8, which
    /// keep the same files) in one meta commit: no new files, no syncs but the commit's. A crash leaves the old
    /// father or the new one, each read through the same empty current state.
    /// </summary>
    private void RevertEmptyCurrent(IrowSnapshotRecord target)
    {
        int cur = _tree.CurrentIndex;
        // Already reading from the target (loadvm right after savevm or loadvm of the same snapshot): the disk content
        // is the target's and nothing on disk would change but the current record's copy of its date.
        if (_tree.Records[cur].FatherBtmpFile == target.BtmpFile) return;
        _tree.Records[cur] = _tree.Records[cur] with
        {
            FatherBtmpFile = target.BtmpFile, DateSeconds = target.DateSeconds,
            DateNanoseconds = target.DateNanoseconds, VmClockNanoseconds = target.VmClockNanoseconds, VmStateSize = 0,
        };
        CommitMeta();
        Reclaim();
        BuildChain();
    }

    /// <summary>
    /// What <see cref="DeleteForReplace"/>, when it handed the current state its parent's files (<see cref="TakeOverFiles"/>),
    /// leaves for the create that savevm makes right after it under the same name: the old VM state is still in the current btmp after
    /// the bitmap (the current record says 0 bytes, so nothing reads it; overwriting it in place costs the host no block
    /// allocation), and, when the current state held nothing, its own empty, durable files, which no record names
    /// (the next current state can have them instead of new files: two fdatasyncs and a directory fsync).
    /// Any operation but <see cref="CreateSnapshot"/> ends this with <see cref="FinishReplace"/>; a crash leaves a longer
    /// btmp (cut by the next snapshot) and the files as leaks, as a crash inside the delete would.
    /// </summary>
    private sealed record ReplaceLeftovers(string? SpareBtmp, string? SpareIrvd);

    private ReplaceLeftovers? _replaceLeftovers;

    /// <summary>Cuts the old VM state off the current btmp and deletes the spare files (<see cref="ReplaceLeftovers"/>).</summary>
    private void FinishReplace()
    {
        if (_replaceLeftovers is not { } left) return;
        _replaceLeftovers = null;
        try { RandomAccess.SetLength(_curBtmp, _bitmapSize); }
        catch (IOException) { } // a longer btmp is harmless: the next snapshot sets its length
        if (left.SpareBtmp is not null && left.SpareIrvd is not null)
            DeleteFiles([Resolve(left.SpareBtmp, "btmp file"), Resolve(left.SpareIrvd, "irvd file")]);
    }

    public void DeleteSnapshot(string idOrName) => Delete(idOrName, replacing: false);

    public void DeleteForReplace(string idOrName) => Delete(idOrName, replacing: true);

    private void Delete(string idOrName, bool replacing)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            int t = _tree.Find(idOrName);
            if (t == -2) throw new ImageFormatException(_metaPath, "the current state cannot be deleted");
            if (t < 0) throw new ImageFormatException(_metaPath, $"no snapshot '{idOrName}'");
            Transact(() =>
            {
                if (IsEmptyOnlyChildOf(t))
                {
                    // The current state is t's only child and holds nothing: it takes t's files in one commit
                    // (MergeUp's step 3 with nothing to copy; t's files are not touched before the commit).
                    TakeOverFiles(t);
                    if (!replacing) FinishReplace();
                    BuildChain();
                    return 0;
                }
                var r = _tree.Records[t];
                _tree.Records[t] = r with { IsDeleted = true, Name = DeletedName(r.Name) };
                CommitMeta();
                Reclaim();
                if (!replacing) FinishReplace();
                BuildChain();
                return 0;
            });
        }
    }

    /// <summary>"name_del", with a number when that is taken (§9 W12), kept within 255 bytes.</summary>
    private string DeletedName(string name)
    {
        for (int n = 0; ; n++)
        {
            string suffix = n == 0 ? "_del" : $"_del{n}";
            string stem = name;
            while (System.Text.Encoding.UTF8.GetByteCount(stem + suffix) >= IrowSnapshotRecord.NameFieldLength) stem = stem[..^1];
            string candidate = stem + suffix;
            if (!_tree.NameInUse(candidate)) return candidate;
        }
    }

    /// <summary>
    /// Gives back the space of deleted snapshots (beyond the original, answering §8.1): a deleted state nothing
    /// live reads is dropped with its files; a deleted state with exactly one child is merged into that child
    /// (§6.4 merge-down). Deleted states with several live children stay, as in the original.
    /// </summary>
    private void Reclaim(bool mergeDown = true)
    {
        while (true)
        {
            var counts = _tree.ComputeChildCounts();
            var dead = new List<int>();
            for (int i = 0; i < _tree.Records.Count; i++)
                if (_tree.Records[i].IsDeleted && counts[i] == 0) dead.Add(i);
            if (dead.Count > 0)
            {
                var files = new List<string>();
                for (int k = dead.Count - 1; k >= 0; k--)
                {
                    var r = _tree.Records[dead[k]];
                    files.Add(Resolve(r.BtmpFile, "btmp file"));
                    files.Add(Resolve(r.IrvdFile, "irvd file"));
                    _tree.Records.RemoveAt(dead[k]);
                }
                CommitMeta();
                DeleteFiles(files);
                continue;
            }
            if (!mergeDown) return;
            int merge = -1, child = -1;
            for (int i = 0; i < _tree.Records.Count && merge < 0; i++)
            {
                if (!_tree.Records[i].IsDeleted) continue;
                var children = _tree.ChildrenOf(i);
                if (children.Count == 1) { merge = i; child = children[0]; }
            }
            if (merge < 0) return;
            MergeDown(merge, child);
        }
    }

    /// <summary>
    /// Copies every cluster the deleted state holds and its child lacks into the child, makes that data and then
    /// the child's bits durable, then re-parents the child and drops the deleted record (§6.4 steps 1-5). Every
    /// step leaves the child's view unchanged, so a crash at any point is harmless.
    /// </summary>
    private void MergeDown(int deleted, int child)
    {
        var d = _tree.Records[deleted];
        var k = _tree.Records[child];
        bool childIsCurrent = child == _tree.CurrentIndex;
        string dBtmpPath = Resolve(d.BtmpFile, "btmp file"), dIrvdPath = Resolve(d.IrvdFile, "irvd file");
        var dBits = new IrowBitmap(_totalClusters);
        using (var db = HostFile.OpenHandle(dBtmpPath, write: false)) dBits.LoadAll(db, dBtmpPath);
        if (childIsCurrent && _curBitmap.CountSet() < dBits.CountSet())
        {
            MergeUp(deleted, dBits, dBtmpPath, dIrvdPath);
            return;
        }

        SafeFileHandle? ownBtmp = null, ownIrvd = null;
        try
        {
            IrowBitmap kBits;
            SafeFileHandle kBtmp, kIrvd;
            string kBtmpPath, kIrvdPath;
            if (childIsCurrent)
            {
                FlushCore();
                kBits = _curBitmap; kBtmp = _curBtmp; kIrvd = _curIrvd; kBtmpPath = _curBtmpPath; kIrvdPath = _curIrvdPath;
            }
            else
            {
                kBtmpPath = Resolve(k.BtmpFile, "btmp file");
                kIrvdPath = Resolve(k.IrvdFile, "irvd file");
                kBtmp = ownBtmp = HostFile.OpenHandle(kBtmpPath, write: true);
                kIrvd = ownIrvd = HostFile.OpenHandle(kIrvdPath, write: true);
                kBits = new IrowBitmap(_totalClusters);
                kBits.Load(kBtmp, kBtmpPath);
            }
            using (var dIrvd = HostFile.OpenHandle(dIrvdPath, write: false))
            {
                var buf = new byte[Math.Max(ClusterSize, 1 << 20)];
                long c = 0;
                while (c < _totalClusters)
                {
                    if ((c & 7) == 0 && (c = dBits.SkipZeroPages(c, _totalClusters)) >= _totalClusters) break; // skip empty pages
                    if (!dBits.IsSet(c) || kBits.IsSet(c)) { c++; continue; }
                    long start = c;
                    long maxClusters = buf.Length >> _clusterBits;
                    while (c < _totalClusters && c - start < maxClusters && dBits.IsSet(c) && !kBits.IsSet(c)) c++;
                    long off = start << _clusterBits, end = Math.Min(c << _clusterBits, Size);
                    var span = buf.AsSpan(0, (int)(end - off));
                    ReadHost(dIrvd, off, span);
                    RandomAccess.Write(kIrvd, span, off);
                }
            }
            HostFile.SyncData(kIrvd, kIrvdPath);
            kBits.UnionWith(dBits);
            kBits.WriteDirtyPages(kBtmp);
            HostFile.SyncData(kBtmp, kBtmpPath);
            if (childIsCurrent) _curIrvdLength = RandomAccess.GetLength(_curIrvd);
        }
        finally
        {
            ownBtmp?.Dispose();
            ownIrvd?.Dispose();
        }
        _tree.Records[child] = k with { FatherBtmpFile = d.FatherBtmpFile };
        _tree.Records.RemoveAt(deleted);
        CommitMeta();
        DeleteFiles([dBtmpPath, dIrvdPath]);
    }

    /// <summary>
    /// Merge-down the other way round, for a deleted state D whose only child is the current state K when K holds
    /// fewer clusters than D. That is savevm under the name of the current state's parent: D (the old snapshot)
    /// holds the disk, K only what the guest wrote since, and merging down copied the whole disk on every savevm.
    /// Here K's clusters are copied into D's files, which then become K's.
    /// Why the order is safe (irow.md §6.4's argument, applied to D's files instead of K's): D is already committed
    /// as deleted, so no snapshot reads D's files on their own, and K reads its own clusters before D's. Steps 1 and 2
    /// write D's irvd only where K has a cluster (the same bytes K holds) and set D's bits only there, so K's view is
    /// the same at every point before step 3. Step 3's meta commit names D's files as K's, so D's copied data and
    /// its bits must both be durable before it (in either order: until the commit nothing reads them). A crash
    /// before the commit leaves the old tree with K's files whole; after it, the new tree, with K's old files as
    /// leaks (check reports them) until step 4 deletes them. When K holds nothing, D's files are unchanged and
    /// nothing needs syncing but the commit.
    /// </summary>
    private void MergeUp(int deleted, IrowBitmap dBits, string dBtmpPath, string dIrvdPath)
    {
        // K's bits reach its btmp (the page cache is enough): a failed commit re-reads K from its files (Transact).
        WriteThroughBits();
        using (var dBtmp = HostFile.OpenHandle(dBtmpPath, write: true))
        using (var dIrvd = HostFile.OpenHandle(dIrvdPath, write: true))
        {
            // 1. K's clusters into D's irvd, in runs.
            bool copied = false;
            var buf = new byte[Math.Max(ClusterSize, 1 << 20)];
            long maxClusters = buf.Length >> _clusterBits;
            long c = 0;
            while (c < _totalClusters)
            {
                if ((c & 7) == 0 && (c = _curBitmap.SkipZeroPages(c, _totalClusters)) >= _totalClusters) break;
                if (!_curBitmap.IsSet(c)) { c++; continue; }
                long start = c;
                while (c < _totalClusters && c - start < maxClusters && _curBitmap.IsSet(c)) c++;
                long off = start << _clusterBits, end = Math.Min(c << _clusterBits, Size);
                var span = buf.AsSpan(0, (int)(end - off));
                ReadHost(_curIrvd, off, span);
                RandomAccess.Write(dIrvd, span, off);
                copied = true;
            }
            // 2. Their bits into D's bitmap; data and bits durable before the commit.
            if (copied)
            {
                HostFile.SyncData(dIrvd, dIrvdPath);
                dBits.UnionWith(_curBitmap);
                dBits.WriteDirtyPages(dBtmp);
                HostFile.SyncData(dBtmp, dBtmpPath);
            }
        }
        TakeOverFiles(deleted);
    }

    /// <summary>Whether the current state is record <paramref name="t"/>'s only child and holds no cluster.</summary>
    private bool IsEmptyOnlyChildOf(int t)
    {
        var children = _tree.ChildrenOf(t);
        return children.Count == 1 && children[0] == _tree.CurrentIndex && _curBitmap.CountSet() == 0;
    }

    /// <summary>
    /// <see cref="MergeUp"/>'s steps 3 and 4: the current state K takes record D's files and father, D's record
    /// goes, in one meta commit. D's VM state stays in the btmp and K's old files stay, empty, for the create that
    /// follows (<see cref="ReplaceLeftovers"/>); otherwise the next operation cuts the one and deletes the others.
    /// Everything K now reads through D's files must be durable before this is called.
    /// </summary>
    private void TakeOverFiles(int deleted)
    {
        FinishReplace();
        var d = _tree.Records[deleted];
        int child = _tree.CurrentIndex;
        string kBtmpPath = _curBtmpPath, kIrvdPath = _curIrvdPath;
        var kRecord = _tree.Records[child];
        bool kWasEmpty = _curBitmap.CountSet() == 0;
        _tree.Records[child] = _tree.Records[child] with { BtmpFile = d.BtmpFile, IrvdFile = d.IrvdFile, FatherBtmpFile = d.FatherBtmpFile };
        _tree.Records.RemoveAt(deleted);
        _tree.Header = _tree.Header with { CurrentBtmp = d.BtmpFile };
        CommitMeta();
        _curBtmp.Dispose();
        _curIrvd.Dispose();
        OpenCurrent();
        _btmpUnsynced = false;
        _copiedOlderData = false;
        if (kWasEmpty) _replaceLeftovers = new ReplaceLeftovers(kRecord.BtmpFile, kRecord.IrvdFile);
        else
        {
            _replaceLeftovers = new ReplaceLeftovers(null, null);
            DeleteFiles([kBtmpPath, kIrvdPath]);
        }
    }

    private static void DeleteFiles(IEnumerable<string> files)
    {
        // After the meta commit nothing refers to them; a failure only leaves a leak that check reports.
        foreach (var f in files)
        {
            try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public Stream OpenVmState(string idOrName)
    {
        lock (Gate)
        {
            CheckUsable();
            int t = _tree.Find(idOrName);
            if (t == -2) throw new ImageFormatException(_metaPath, "the current state has no saved VM state");
            if (t < 0) throw new ImageFormatException(_metaPath, $"no snapshot '{idOrName}'");
            var r = _tree.Records[t];
            if (r.VmStateSize == 0) throw new ImageFormatException(_metaPath, $"snapshot '{r.Name}' has no VM state");
            string path = Resolve(r.BtmpFile, "btmp file");
            var h = HostFile.OpenHandle(path, write: false);
            long need = _bitmapSize + (long)r.VmStateSize;
            if (RandomAccess.GetLength(h) < need)
            {
                h.Dispose();
                throw new ImageFormatException(path, $"btmp file is shorter than its bitmap plus {r.VmStateSize} bytes of VM state");
            }
            return new IrowVmStateStream(h, path, _bitmapSize, r.VmStateSize, writable: false, ownsHandle: true);
        }
    }

    /// <summary>
    /// Runs a tree change; if it fails part-way, the in-memory tree is re-read from the meta file (the last
    /// committed state) and the chain rebuilt, so memory never disagrees with disk.
    /// </summary>
    private T Transact<T>(Func<T> change, string operation = "snapshot operation")
    {
        var leftovers = _replaceLeftovers;
        try { return change(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ImageFormatException)
        {
            try
            {
                _tree = IrowMetaFile.Read(_metaPath);
                ApplyGeometry();
                _curBtmp.Dispose();
                _curIrvd.Dispose();
                OpenCurrent();
                BuildChain();
            }
            catch (Exception inner) when (inner is IOException or UnauthorizedAccessException or ImageFormatException)
            {
                _unusable = inner.Message;
            }
            if (e is ImageFormatException) throw;
            throw new ImageFormatException(_metaPath, $"{operation} failed: {e.Message}");
        }
        finally
        {
            // A replace's leftovers live from its delete to the create right after it, no longer.
            if (leftovers is not null && ReferenceEquals(_replaceLeftovers, leftovers)) FinishReplace();
        }
    }
}
