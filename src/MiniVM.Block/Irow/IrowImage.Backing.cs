namespace MiniVM.Block.Irow;

/// <summary>The backing link: the meta header's backing_file field (irow.md §2.2); iROW stores no backing format.</summary>
public sealed partial class IrowImage : IBackingLink
{
    /// <summary>
    /// Stores the new name in the meta header. The meta file is replaced atomically (write temp, fsync, rename,
    /// fsync dir), so a crash leaves either the old link or the new one. The open image keeps reading its old
    /// backing until it is reopened; `img rebase` makes the data agree first.
    /// </summary>
    public void SetBackingFile(string? name, string? format)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            string stored = name ?? "";
            try { IrowText.CheckFits(stored, IrowMetaHeader.NameFieldLength, "backing file name"); }
            catch (ImageFormatException e) { throw new ImageFormatException(_metaPath, e.Message); }
            if (stored.Length > 0)
                UnrecordedBackingFormat.Check(_registry, _metaPath, ImagePaths.ResolveBackingName(_metaPath, stored, _allowUnsafePaths),
                    stored, format, "iROW stores no backing format (irow.md §9 W29)");
            var old = _tree.Header;
            _tree.Header = old with { BackingFile = stored };
            try { CommitMeta(); }
            catch
            {
                _tree.Header = old;
                throw;
            }
        }
    }
}
