using System.Runtime.InteropServices;

namespace MiniVM.Block.AddCow;

/// <summary>
/// Whether a named file is a regular file (add-cow.md §5.4 rule 5). .NET reports FIFOs and devices as ordinary
/// files, and opening a FIFO blocks, so a hostile header naming one would hang the open; statx tells them apart.
/// </summary>
internal static partial class AddCowFileType
{
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, Span<byte> buf);

    /// <summary>False only when the host positively says "not a regular file" (symlinks are followed).</summary>
    public static bool IsRegularOrUnknown(string path)
    {
        if (!OperatingSystem.IsLinux()) return true;
        // struct statx (linux/stat.h): stx_mode is a __u16 at offset 28; STATX_TYPE = 0x1; S_IFMT 0170000, S_IFREG 0100000.
        Span<byte> buf = stackalloc byte[256];
        const int AT_FDCWD = -100;
        try
        {
            if (StatX(AT_FDCWD, path, 0, 0x1, buf) != 0) return true;
        }
        catch (EntryPointNotFoundException) { return true; }
        catch (DllNotFoundException) { return true; }
        ushort mode = MemoryMarshal.Read<ushort>(buf.Slice(28, 2));
        return (mode & 0xF000) == 0x8000;
    }
}
