using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// `img resize` for iROW: growing only. The meta header holds one disk_size for every state, so a shrink would cut
/// data out of every snapshot as well as the current state; it is refused.
/// </summary>
public sealed partial class IrowImage : IResizable
{
    private const int CopyChunk = 1 << 20;

    /// <summary>
    /// Grows the disk. What changes on disk (irow.md §2): the meta header's disk_size and total_clusters; every
    /// state's btmp, whose bitmap grows to ceil(total_clusters/8) bytes with its VM state right behind it (§2.5);
    /// every irvd's nominal length (§2.6). The grown clusters are clear in every bitmap, so they read from the backing
    /// file where it reaches and as zeroes past it, in the current state and in every snapshot.
    /// <para>
    /// Crash ordering: the meta file is the commit point (an atomic replace, §9 W3), and nothing the old meta names
    /// changes meaning before it:
    /// 1. the current state's data and bits are flushed;
    /// 2. when the bitmap grows, each state gets a new btmp file (a fresh `&lt;meta&gt;-&lt;T&gt;.btmp` name) holding
    ///    its bitmap, the new zero bits and its VM state, fsynced; the old btmps are untouched, so the old meta
    ///    still reads exactly as before. When the bitmap keeps its length, stray padding bits in the last byte
    ///    (never meaningful under the old size, §2.5) are cleared in place;
    /// 3. in every irvd the bytes past the old end within the old last cluster (a full-cluster copy-up may have
    ///    left bytes there, §2.6) are zeroed and the file is extended to the new size, fsynced; both are past the
    ///    old disk's end, invisible under the old meta;
    /// 4. the new meta (new size, new btmp names in the records, father links and current_btmp) replaces the old
    ///    one: only now does the new size exist;
    /// 5. the old btmps are deleted (a crash before this leaves unreferenced files, never a wrong disk).
    /// A crash before 4 leaves the old image and at most some unreferenced new btmps; after 4, the grown image.
    /// </para>
    /// </summary>
    public void Resize(long newSize)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            if (newSize == Size) return;
            if (newSize < Size)
                throw new ImageUnsupportedException(_metaPath, $"an iROW disk cannot shrink (from {Size} to {newSize} bytes): every snapshot shares its one disk size, so shrinking would cut data out of them");
            IrowMetaHeader.CheckGeometry(_metaPath, newSize, _clusterBits);
            Transact(() => { GrowCore(newSize); return 0; }, "resize");
        }
    }

    private void GrowCore(long newSize)
    {
        FlushCore();
        long oldSize = Size;
        int oldBitmap = _bitmapSize;
        long oldClusters = _totalClusters;
        long newClusters = IrowMetaHeader.ClustersFor(newSize, _clusterBits);
        int newBitmap = (int)((newClusters + 7) >> 3);

        // 2. Bitmaps.
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        var now = DateTimeOffset.UtcNow;
        long stamp = 0;
        foreach (var r in _tree.Records)
        {
            string oldPath = Resolve(r.BtmpFile, "btmp file");
            if (newBitmap == oldBitmap) ClearPaddingInPlace(oldPath, oldBitmap, oldClusters);
            else renamed[r.BtmpFile] = WriteGrownBtmp(oldPath, oldBitmap, oldClusters, newBitmap, r.VmStateSize, now, ref stamp);
        }

        // 3. irvds.
        long oldClusterEnd = Math.Min(((oldSize + ClusterSize - 1) >> _clusterBits) << _clusterBits, newSize);
        foreach (var r in _tree.Records)
        {
            string path = Resolve(r.IrvdFile, "irvd file");
            // This image already holds every state file's lock; a plain handle adds no lock bytes of its own.
            using var irvd = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            long length = RandomAccess.GetLength(irvd);
            if (length > oldSize && oldClusterEnd > oldSize)
                ZeroHostRange(irvd, oldSize, Math.Min(length, oldClusterEnd));
            if (length < newSize) RandomAccess.SetLength(irvd, newSize);
            HostFile.SyncData(irvd, path);
        }

        // 4. The commit point.
        string Renamed(string btmp) => btmp.Length > 0 && renamed.TryGetValue(btmp, out var n) ? n : btmp;
        for (int i = 0; i < _tree.Records.Count; i++)
        {
            var r = _tree.Records[i];
            _tree.Records[i] = r with { BtmpFile = Renamed(r.BtmpFile), FatherBtmpFile = Renamed(r.FatherBtmpFile) };
        }
        _tree.Header = _tree.Header with { DiskSize = newSize, TotalClusters = newClusters, CurrentBtmp = Renamed(_tree.Header.CurrentBtmp) };
        CommitMeta();

        // 5. The old btmps are no longer named by anything.
        foreach (var old in renamed.Keys)
        {
            try { File.Delete(Resolve(old, "btmp file")); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }

        // In memory: the new geometry, the current state's files and the chain, as a fresh open would see them.
        ApplyGeometry();
        _curBtmp.Dispose();
        _curIrvd.Dispose();
        OpenCurrent();
        BuildChain();
        _btmpUnsynced = false;
    }

    /// <summary>
    /// A new btmp beside the meta file: the old bitmap (padding bits past the old last cluster cleared), zero bits
    /// up to <paramref name="newBitmap"/> bytes, then the state's VM state, fsynced. Returns its stored name.
    /// </summary>
    private string WriteGrownBtmp(string oldPath, int oldBitmap, long oldClusters, int newBitmap, uint vmStateSize, DateTimeOffset now, ref long stamp)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(_metaPath)) ?? ".";
        string baseName = Path.GetFileName(_metaPath);
        var (sec, nsec) = IrowSnapshotRecord.DateFields(now);
        using var source = File.OpenHandle(oldPath);
        long needed = oldBitmap + (long)vmStateSize;
        if (RandomAccess.GetLength(source) < needed)
            throw new ImageFormatException(oldPath, $"btmp file is {RandomAccess.GetLength(source)} bytes, shorter than its bitmap and VM state ({needed} bytes)");
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            long usec = nsec / 1000 + stamp++;
            long s = sec + usec / 1_000_000, u = usec % 1_000_000;
            string name = $"{baseName}-{s.ToString("x", CultureInfo.InvariantCulture)}{u.ToString("x", CultureInfo.InvariantCulture)}.btmp";
            IrowText.CheckFits(name, IrowMetaHeader.NameFieldLength, "btmp file name (from the meta file name)");
            string path = Path.Combine(dir, name);
            SafeFileHandle target;
            try { target = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite); }
            catch (IOException) when (File.Exists(path)) { continue; }
            using (target)
            {
                var buffer = new byte[(int)Math.Min(CopyChunk, Math.Max(oldBitmap, vmStateSize))];
                CopyRange(source, 0, target, 0, oldBitmap, buffer, lastChunk: chunk => IrowBitmap.MaskPadding(chunk, oldClusters - (oldBitmap - chunk.Length) * 8L));
                RandomAccess.SetLength(target, newBitmap + (long)vmStateSize);
                CopyRange(source, oldBitmap, target, newBitmap, vmStateSize, buffer, lastChunk: null);
                HostFile.SyncData(target, path);
            }
            return name;
        }
        throw new ImageFormatException(_metaPath, "cannot find a free name for a grown btmp file");
    }

    /// <summary>Copies <paramref name="length"/> bytes; <paramref name="lastChunk"/> may edit the final piece before it is written.</summary>
    private static void CopyRange(SafeFileHandle from, long fromOffset, SafeFileHandle to, long toOffset, long length, byte[] buffer, SpanAction? lastChunk)
    {
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(buffer.Length, length - done);
            var piece = buffer.AsSpan(0, n);
            IrowBitmap.ReadExactly(from, piece, fromOffset + done, "btmp file");
            if (done + n == length) lastChunk?.Invoke(piece);
            RandomAccess.Write(to, piece, toOffset + done);
            done += n;
        }
    }

    private delegate void SpanAction(Span<byte> span);

    /// <summary>The bitmap keeps its length: only stray padding bits of its last byte could turn into clusters.</summary>
    private static void ClearPaddingInPlace(string path, int bitmapSize, long clusters)
    {
        if ((clusters & 7) == 0 || bitmapSize == 0) return;
        using var btmp = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        Span<byte> last = stackalloc byte[1];
        IrowBitmap.ReadExactly(btmp, last, bitmapSize - 1, path);
        byte before = last[0];
        IrowBitmap.MaskPadding(last, clusters - (bitmapSize - 1) * 8L);
        if (last[0] == before) return;
        RandomAccess.Write(btmp, last, bitmapSize - 1);
        HostFile.SyncData(btmp, path);
    }

    private void ZeroHostRange(SafeFileHandle file, long start, long end)
    {
        if (end <= start || HostFile.TryPunchHole(file, start, end - start)) return;
        var zero = new byte[(int)Math.Min(end - start, ClusterSize)];
        for (long p = start; p < end; p += zero.Length)
            RandomAccess.Write(file, zero.AsSpan(0, (int)Math.Min(zero.Length, end - p)), p);
    }
}
