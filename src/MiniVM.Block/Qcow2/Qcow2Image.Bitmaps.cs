using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Block.Qcow2;

/// <summary>
/// The persistent dirty bitmaps a version 3 image lists in its bitmap directory (qcow2.txt "Bitmaps extension"),
/// read only for what qemu-img measure reports: names and granularities. MiniVM does not track dirty bitmaps, so an
/// image that has them is opened read-only (Qcow2Image.Open).
/// </summary>
public sealed partial class Qcow2Image : IPersistentBitmaps
{
    private const int MaxBitmaps = 65535;                 // QCOW2_MAX_BITMAPS
    private const long MaxBitmapDirectory = 64L << 20;     // QCOW2_MAX_BITMAP_DIRECTORY_SIZE
    private const int BitmapEntryHeader = 24;

    public IReadOnlyList<PersistentBitmap>? PersistentBitmaps
    {
        get
        {
            if (_h.Version < 3) return null;
            // Without the autoclear bit the extension is stale: a writer that did not know it changed the disk.
            if (_h.Find(Qcow2HeaderExtension.Bitmaps) is not { } ext || (_h.AutoclearFeatures & Qcow2Header.AutoclearBitmaps) == 0)
                return [];
            if (ext.Data.Length < 24) throw new ImageFormatException(FileName, $"bitmaps extension is {ext.Data.Length} bytes, needs 24");
            uint count = BinaryPrimitives.ReadUInt32BigEndian(ext.Data);
            ulong dirSize = BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(8));
            ulong dirOffset = BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(16));
            if (count == 0 || count > MaxBitmaps)
                throw ImageFormatException.BadField(FileName, "nb_bitmaps", count, $"must be 1 to {MaxBitmaps}");
            if (dirSize > (ulong)MaxBitmapDirectory || dirSize < (ulong)BitmapEntryHeader * count)
                throw ImageFormatException.BadField(FileName, "bitmap_directory_size", dirSize, $"must hold {count} entries and be at most {MaxBitmapDirectory}");
            if (dirOffset % (ulong)_cs != 0 || dirOffset + dirSize > (ulong)_file.Length)
                throw ImageFormatException.BadField(FileName, "bitmap_directory_offset", dirOffset, "must be cluster-aligned and inside the file");
            byte[] dir = ReadBytes((long)dirOffset, (int)dirSize);
            var list = new List<PersistentBitmap>((int)count);
            int at = 0;
            for (int i = 0; i < count; i++)
            {
                if (at + BitmapEntryHeader > dir.Length)
                    throw new ImageFormatException(FileName, $"bitmap directory ends inside entry {i}");
                var e = dir.AsSpan(at);
                int granularityBits = e[17], nameSize = BinaryPrimitives.ReadUInt16BigEndian(e[18..]);
                uint extra = BinaryPrimitives.ReadUInt32BigEndian(e[20..]);
                if (granularityBits is < 9 or > 31)
                    throw ImageFormatException.BadField(FileName, "granularity_bits", granularityBits, $"of bitmap {i} must be 9 to 31");
                long end = at + BitmapEntryHeader + (long)extra + nameSize;
                if (end > dir.Length) throw new ImageFormatException(FileName, $"bitmap directory entry {i} runs past the directory");
                string name = Encoding.UTF8.GetString(dir, (int)(end - nameSize), nameSize);
                list.Add(new PersistentBitmap(name, 1L << granularityBits));
                at = (int)((end + 7) & ~7L);
            }
            return list;
        }
    }
}
