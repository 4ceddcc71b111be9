namespace MiniVM.Block.Fvd;

/// <summary>The backing link: the header's base_img and base_img_fmt fields (fvd.md §2.2).</summary>
public sealed partial class FvdImage : IBackingLink
{
    /// <summary>
    /// A new base keeps the bitmap and base_img_size: blocks whose bit is clear read the new base (clipped to its
    /// length), sectors past base_img_size stay in the data area. No base at all means every block is in the data area
    /// from now on: all_data_in_fvd_img is set with the name cleared, as a finished prefetch leaves it (§3.7), and the
    /// base is never opened again (`img rebase` first copies what the old base showed). An image that already has no
    /// bitmap (created without a base, or prefetched) has no room to get one, so it cannot get a base.
    /// <para>
    /// The fields (bytes 8-1067) change in one write of header sector 0 to 2, inside the file's first 4 KiB page, then
    /// a sync: after a crash the header holds the old link or the new one.
    /// </para>
    /// </summary>
    public void SetBackingFile(string? name, string? format)
    {
        lock (Gate)
        {
            CheckUsable();
            if (!_writable) CheckWritable(); // only the link changes and no base data is copied, so an open without the base may relink it
            if (name is not null && !_h.HasBitmap)
                throw new ImageUnsupportedException(FileName, "this FVD image has no base bitmap (it was created without a base image, or all its data is in the image), so it cannot get a base image");
            string oldName = _h.BaseImage, oldFormat = _h.BaseImageFormat;
            bool oldAll = _h.AllDataInFvdImage;
            FlushCore();
            _h.BaseImage = name ?? "";
            _h.BaseImageFormat = name is null ? "" : format ?? "";
            if (name is null) _h.AllDataInFvdImage = true;
            try
            {
                var header = new byte[FvdHeader.Length];
                _h.WriteTo(header);
                const int end = 1068 + FvdHeader.Sector - 1068 % FvdHeader.Sector; // through base_img_fmt, whole sectors
                WriteMeta(0, header.AsSpan(0, end));
                SyncMeta();
            }
            catch (ImageFormatException e) when (e is not ImageIOException)
            {
                Restore();
                throw new ImageFormatException(FileName, e.Message);
            }
            catch
            {
                Restore();
                throw;
            }

            void Restore()
            {
                _h.BaseImage = oldName;
                _h.BaseImageFormat = oldFormat;
                _h.AllDataInFvdImage = oldAll;
            }
        }
    }
}
