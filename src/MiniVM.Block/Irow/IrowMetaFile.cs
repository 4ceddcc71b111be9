using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// Reading and replacing the meta file. The original rewrote it in place (irow.md §9 W3); here a new file is
/// written next to it, made durable, renamed over the old one, and the directory is synced, so a reader sees
/// either the old or the new file, whole.
/// </summary>
public static class IrowMetaFile
{
    /// <summary>More states than any real use (QEMU users keep tens); bounds what a hostile meta file makes us read.</summary>
    public const int MaxRecords = 65536;

    public const long MaxLength = IrowMetaHeader.Size + (long)MaxRecords * IrowSnapshotRecord.Size;

    public static string TempPathFor(string metaPath) => metaPath + ".irow-new";

    public static IrowTree Read(string metaPath)
    {
        byte[] bytes;
        try
        {
            using var h = File.OpenHandle(metaPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long len = RandomAccess.GetLength(h);
            if (len < IrowMetaHeader.Size)
                throw new ImageFormatException(metaPath, $"meta file is {len} bytes, shorter than the {IrowMetaHeader.Size}-byte header");
            if (len > MaxLength)
                throw new ImageFormatException(metaPath, $"meta file is {len} bytes, more than {MaxRecords} state records");
            bytes = new byte[len];
            int done = 0;
            while (done < bytes.Length)
            {
                int n = RandomAccess.Read(h, bytes.AsSpan(done), done);
                if (n <= 0) throw new ImageFormatException(metaPath, "meta file shrank while being read");
                done += n;
            }
        }
        catch (IOException e) { throw new ImageFormatException(metaPath, $"cannot read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new ImageFormatException(metaPath, $"cannot read: {e.Message}"); }
        return Parse(bytes, metaPath);
    }

    /// <summary>Parses and validates a whole meta file image (header, records, tree).</summary>
    public static IrowTree Parse(ReadOnlySpan<byte> bytes, string? fileName)
    {
        var header = IrowMetaHeader.Parse(bytes, fileName);
        long expected = IrowMetaHeader.Size + (long)header.SnapshotCount * IrowSnapshotRecord.Size;
        if (header.SnapshotCount == 0)
            throw ImageFormatException.BadField(fileName, "nb_snapshots", 0, "at least the current state's record must exist");
        if (expected != bytes.Length)
            throw ImageFormatException.BadField(fileName, "nb_snapshots", header.SnapshotCount,
                $"needs a meta file of {expected} bytes, but it is {bytes.Length} (irow.md §9 W24)");
        var records = new List<IrowSnapshotRecord>((int)header.SnapshotCount);
        for (int i = 0; i < header.SnapshotCount; i++)
            records.Add(IrowSnapshotRecord.Parse(bytes.Slice(IrowMetaHeader.Size + i * IrowSnapshotRecord.Size), fileName, i));
        var tree = new IrowTree(header, records);
        tree.Validate(fileName);
        return tree;
    }

    /// <summary>The exact bytes of a meta file for <paramref name="tree"/> (header count set from the records).</summary>
    public static byte[] Serialize(IrowTree tree)
    {
        tree.Header = tree.Header with { SnapshotCount = (uint)tree.Records.Count };
        var bytes = new byte[IrowMetaHeader.Size + tree.Records.Count * IrowSnapshotRecord.Size];
        tree.Header.WriteTo(bytes);
        for (int i = 0; i < tree.Records.Count; i++)
            tree.Records[i].WriteTo(bytes.AsSpan(IrowMetaHeader.Size + i * IrowSnapshotRecord.Size));
        return bytes;
    }

    /// <summary>
    /// Atomically replaces the meta file: write temp, fsync, rename, fsync the directory. With
    /// <paramref name="keepWriterLock"/> the new file is locked as a writer's (ImageLock) before it takes the meta
    /// file's name, and its handle is returned open: a writer's lock then never leaves the name, so another process
    /// that opens the meta file, before or after the rename, finds it held.
    /// </summary>
    public static SafeFileHandle? Replace(string metaPath, IrowTree tree, bool keepWriterLock = false)
    {
        tree.NormalizeCounts();
        byte[] bytes = Serialize(tree);
        string tmp = TempPathFor(metaPath);
        SafeFileHandle? h = null;
        try
        {
            // Not FileShare.None: .NET emulates it with flock(LOCK_EX), which would shut out every reader of the meta
            // file while the writer keeps this handle for its lock. Writers exclude each other by the meta lock.
            h = File.OpenHandle(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            RandomAccess.Write(h, bytes, 0);
            RandomAccess.FlushToDisk(h);
            if (keepWriterLock) ImageLock.Acquire(h, metaPath, ImageLockMode.Write);
            else { h.Dispose(); h = null; }
            File.Move(tmp, metaPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            h?.Dispose();
            throw new ImageFormatException(metaPath, $"cannot write the meta file: {e.Message}");
        }
        catch
        {
            h?.Dispose();
            throw;
        }
        HostFile.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(metaPath)) ?? ".");
        return h;
    }
}
