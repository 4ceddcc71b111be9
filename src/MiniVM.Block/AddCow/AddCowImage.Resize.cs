namespace MiniVM.Block.AddCow;

/// <summary>Resize in the crash-safe orders of add-cow.md §3.7: the raw file keeps the size, the bitmap follows it.</summary>
public sealed partial class AddCowImage
{
    /// <summary>
    /// Grows or shrinks the disk. A grow first zeroes every bit for the new clusters on disk (stale bits left by an
    /// earlier crashed shrink must not come back), then extends raw. A shrink truncates raw first (that defines the new
    /// size), then clears and truncates the bitmap; a crash in between leaves a longer bitmap, which open tolerates.
    /// If the old last cluster was partial and allocated, the grown part of it reads as zeroes from raw (§3.7).
    /// </summary>
    public void Resize(long newSize)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            CheckSize(FileName, RawPath, newSize);
            if (newSize == Size) return;
            try
            {
                FlushCore();
                long oldBytes = _bitmap.Length;
                long clusters = ClustersFor(newSize);
                long newBytes = AddCowBitmap.BytesFor(clusters);
                if (newSize > Size)
                {
                    _bitmap.Resize(clusters);
                    // From the old last byte (its bits past the old end are cleared) to the new end, written explicitly.
                    int from = (int)Math.Max(0, oldBytes - 1);
                    RandomAccess.Write(_meta, _bitmap.Bytes[from..], AddCowHeader.Size + from);
                    _metaLength = Math.Max(_metaLength, AddCowHeader.Size + newBytes);
                    HostFile.SyncData(_meta, FileName);
                    RandomAccess.SetLength(_raw, newSize);
                    HostFile.SyncData(_raw, RawPath);
                }
                else
                {
                    RandomAccess.SetLength(_raw, newSize);
                    HostFile.SyncData(_raw, RawPath);
                    _bitmap.Resize(clusters);
                    int lastByte = (int)newBytes - 1;
                    RandomAccess.Write(_meta, _bitmap.Bytes[lastByte..], AddCowHeader.Size + lastByte);
                    _metaLength = AddCowHeader.Size + newBytes;
                    RandomAccess.SetLength(_meta, _metaLength);
                    HostFile.SyncData(_meta, FileName);
                }
                _size = newSize;
            }
            catch (IOException e) { throw HostError("resize", e); }
        }
    }
}
