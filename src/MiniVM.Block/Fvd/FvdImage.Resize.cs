namespace MiniVM.Block.Fvd;

/// <summary>
/// `img resize` for FVD: growing only. fvd.md §5.2 allows a size change only when the bitmap and table follow it.
/// The bitmap covers base_img_size, which a grow leaves alone: sectors past it are always in the data area (§2.4),
/// so the grown part reads from the data area, never from the base. A compact image's table must keep its
/// region: the journal, then the data area, start right behind it, so a table that outgrows its 4 KiB-rounded
/// region cannot be moved and the grow is refused. A shrink would cut the base-covered range and the table; refused.
/// </summary>
public sealed partial class FvdImage : IResizable
{
    /// <summary>
    /// Crash ordering: virtual_disk_size in header sector 0 is the commit point, written alone (one 512-byte sector,
    /// fvd.md §5.4 item 3) after everything the new size needs is durable:
    /// 1. a flush: the data, then the journal (everything written so far is on disk);
    /// 2. the data area past the old end is zeroed where the file already reached (a data file longer than the disk),
    ///    then synced; under the old size nobody reads it;
    /// 3. compact: the table entries the new size adds are written EMPTY (0xFFFFFFFF), then synced; the old size
    ///    never reads entries past its own count, and replay ignores them;
    /// 4. header sector 0 with the new size, synced.
    /// A crash before 4 leaves the old disk unchanged; after it, the grown one.
    /// </summary>
    public void Resize(long newSize)
    {
        lock (Gate)
        {
            CheckUsable();
            if (!_writable) CheckWritable(); // the grown part is past base_img_size and never copies base data, so an open without the base may grow
            if (newSize == Size) return;
            if (newSize < Size)
                throw new ImageUnsupportedException(FileName, $"an FVD disk cannot shrink (from {Size} to {newSize} bytes): its base bitmap and table cover the old size");
            if (newSize % FvdHeader.Sector != 0)
                throw new ImageFormatException(FileName, $"new size {newSize} must be a multiple of 512");
            long oldCount = _h.ChunkCount;
            long newCount = 0;
            if (_h.CompactImage)
            {
                newCount = (newSize + _chunkSize - 1) / _chunkSize;
                long room = _h.TableSize / 4;
                if (newCount > room)
                    throw new ImageUnsupportedException(FileName, $"a compact FVD image can grow only within its table ({room} chunks of {_chunkSize} bytes, {room * _chunkSize} bytes); {newSize} bytes needs {newCount}");
            }
            FlushCore();
            long oldSize = Size;
            if (!_h.CompactImage && _dataLength > _dataOffset + oldSize)
            {
                StoreZeroes(_dataOffset + oldSize, Math.Min(_dataLength, _dataOffset + newSize) - (_dataOffset + oldSize));
                SyncData();
            }
            if (_h.CompactImage)
            {
                var empty = new byte[(newCount - oldCount) * 4];
                Array.Fill(empty, (byte)0xFF);
                WriteMeta(_h.TableOffset + oldCount * 4, empty);
                SyncMeta();
                Array.Resize(ref _table, (int)newCount);
                Array.Fill(_table, Empty, (int)oldCount, (int)(newCount - oldCount));
            }
            var header = new byte[FvdHeader.Length];
            _h.VirtualDiskSize = newSize;
            _h.WriteTo(header);
            try
            {
                WriteMeta(0, header.AsSpan(0, FvdHeader.Sector));
                SyncMeta();
            }
            catch
            {
                _h.VirtualDiskSize = oldSize;
                throw;
            }
        }
    }
}
