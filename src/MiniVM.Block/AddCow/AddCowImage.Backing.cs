namespace MiniVM.Block.AddCow;

/// <summary>The backing link: the header's backing_file field (add-cow.md §2.1); add-cow stores no backing format.</summary>
public sealed partial class AddCowImage : IBackingLink
{
    /// <summary>
    /// Rewrites the 1024-byte backing_file field (bytes 12-1035) in one write and syncs it. The field lies inside the
    /// file's first 4 KiB page and nothing else changes, so the page cache writes it back whole: after a crash the
    /// header names the old backing or the new one. An empty name is "no backing" (§5.2 item 3). The open image keeps
    /// reading its old backing until it is reopened.
    /// </summary>
    public void SetBackingFile(string? name, string? format)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            string stored = name ?? "";
            AddCowHeader.CheckStorable(stored, FileName, "backing_file");
            if (stored.Length > 0)
            {
                string path = AddCowStoredName.Resolve(FileName, stored, _allowUnsafePaths, AddCowStoredName.BackingFile, mustExist: false);
                AddCowStoredName.CheckDistinct(FileName, RawPath, path);
                UnrecordedBackingFormat.Check(_registry, FileName, path, stored, format, "add-cow stores no backing format (add-cow.md §2.1)");
            }
            var header = _header with { BackingFile = stored };
            var bytes = new byte[AddCowHeader.Size];
            header.WriteTo(bytes);
            try
            {
                RandomAccess.Write(_meta, bytes.AsSpan(AddCowHeader.BackingNameOffset, AddCowHeader.NameFieldSize), AddCowHeader.BackingNameOffset);
                HostFile.SyncData(_meta, FileName);
            }
            catch (IOException e) { throw HostError("write", e); }
            _header = header;
        }
    }
}
