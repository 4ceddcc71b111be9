namespace MiniVM.Block.AddCow;

/// <summary>Create (add-cow.md §6.4): never truncates an existing raw file, and the add-cow file appears atomically.</summary>
public sealed partial class AddCowImage
{
    /// <summary>
    /// Creates <paramref name="fileName"/> over <paramref name="backingFile"/> with guest data in <paramref name="imageFile"/>.
    /// Both names are stored as given and resolved as open resolves them (relative to the add-cow file). An existing
    /// raw file gives the size (<paramref name="size"/> must be 0 or equal); a missing one is created sparse with
    /// <paramref name="size"/>, or the backing's size rounded up to 512 when size is 0.
    /// </summary>
    public static AddCowImage Create(string fileName, long size, string backingFile, string? backingFormat, string imageFile,
        ImageOpenContext context)
    {
        if (File.Exists(fileName) || Directory.Exists(fileName))
            throw new ImageFormatException(fileName, "already exists; add-cow create does not overwrite (remove it first)");
        if (string.IsNullOrEmpty(backingFile))
            throw new ImageFormatException(fileName, "add-cow needs a backing file (-b or -o backing_file=NAME)");
        if (string.IsNullOrEmpty(imageFile))
            throw new ImageFormatException(fileName, "add-cow needs the raw image file (-o image_file=NAME)");
        AddCowHeader.CheckStorable(backingFile, fileName, "backing_file");
        AddCowHeader.CheckStorable(imageFile, fileName, "image_file");
        if (size < 0 || size % SectorSize != 0 || size > MaxVirtualSize)
            throw new ImageFormatException(fileName, $"size {size} must be a multiple of {SectorSize} up to {MaxVirtualSize}");

        string backingPath = AddCowStoredName.Resolve(fileName, backingFile, context.AllowUnsafePaths, AddCowStoredName.BackingFile, mustExist: true);
        string rawPath = AddCowStoredName.Resolve(fileName, imageFile, context.AllowUnsafePaths, "image file", mustExist: false);
        AddCowStoredName.CheckDistinct(fileName, rawPath, backingPath);

        long backingSize;
        string probed = context.Registry.Probe(backingPath).Name;
        if (backingFormat is not null && !string.Equals(backingFormat, probed, StringComparison.OrdinalIgnoreCase))
            throw new ImageFormatException(fileName,
                $"backing file {backingFile} probes as {probed}, not {backingFormat}; add-cow stores no backing format (add-cow.md §2.1), so it would be opened as {probed}");
        using (var b = context.OpenBacking(fileName, backingFile, null)) backingSize = b.Size;

        bool rawCreated = false;
        try
        {
            if (File.Exists(rawPath))
            {
                long existing = new FileInfo(rawPath).Length;
                if (existing == 0 && size > 0)
                {
                    using var h = OpenExclusive(rawPath, write: true);
                    RandomAccess.SetLength(h, size); // nothing to lose in an empty file
                    HostFile.SyncData(h, rawPath);
                }
                else if (size != 0 && size != existing)
                    throw new ImageFormatException(fileName,
                        $"image file {imageFile} exists with {existing} bytes, not {size}; add-cow takes the size from it and never truncates it");
                else size = existing;
            }
            else
            {
                if (size == 0) size = Math.Min(MaxVirtualSize, (backingSize + SectorSize - 1) / SectorSize * SectorSize);
                CheckSize(fileName, rawPath, size);
                using var h = CreateNewFile(rawPath);
                rawCreated = true;
                RandomAccess.SetLength(h, size);
                HostFile.SyncData(h, rawPath);
            }
            CheckSize(fileName, rawPath, size);
            WriteMetaFile(fileName, new AddCowHeader(backingFile, imageFile), AddCowBitmap.BytesFor(ClustersFor(size)));
        }
        catch (IOException e)
        {
            if (rawCreated) File.Delete(rawPath);
            throw new ImageFormatException(fileName, $"cannot create: {e.Message}");
        }
        catch
        {
            if (rawCreated) File.Delete(rawPath);
            throw;
        }
        return Open(fileName, context.AsReadWrite());
    }

    private static Microsoft.Win32.SafeHandles.SafeFileHandle CreateNewFile(string path)
    {
        try { return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ImageFormatException(path, $"cannot create: {e.Message}");
        }
    }

    /// <summary>Header and zero bitmap into a temporary file, fsync, rename into place, fsync the directory (§5.1 item 8).</summary>
    private static void WriteMetaFile(string fileName, AddCowHeader header, long bitmapBytes)
    {
        string full = Path.GetFullPath(fileName);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var h = CreateNewFile(tmp))
            {
                var head = new byte[AddCowHeader.Size];
                header.WriteTo(head);
                RandomAccess.Write(h, head, 0);
                RandomAccess.SetLength(h, AddCowHeader.Size + bitmapBytes); // the zero bitmap: all clusters from the backing
                HostFile.SyncData(h, tmp);
            }
            File.Move(tmp, full, overwrite: false);
            HostFile.SyncDirectory(dir);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
