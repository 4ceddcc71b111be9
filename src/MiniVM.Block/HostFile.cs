using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block;

/// <summary>
/// Linux host-file primitives the drivers need beyond RandomAccess: sparse-aware allocation queries
/// (SEEK_DATA/SEEK_HOLE), hole punching, allocated-block counts and directory fsync. Every call falls back
/// to a portable answer when the platform or file system does not support it.
/// </summary>
public static partial class HostFile
{
    private const int SEEK_DATA = 3;
    private const int SEEK_HOLE = 4;
    private const int FALLOC_FL_KEEP_SIZE = 0x01;
    private const int FALLOC_FL_PUNCH_HOLE = 0x02;
    private const int ENXIO = 6;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int FAllocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long nbytes, uint flags);

    private const uint SYNC_FILE_RANGE_WRITE = 2;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    private static readonly bool IsLinux = OperatingSystem.IsLinux();

    /// <summary>
    /// Opens a host file for positional I/O. Every file of an image passes here — a format's data files too (iROW's
    /// btmp/irvd, add-cow's and FVD's data files), whose names come from the image itself — so a name that leads to
    /// a FIFO (the open would block) or a device (reads without end) is refused before it is opened.
    /// </summary>
    public static SafeFileHandle OpenHandle(string path, bool write, FileMode mode = FileMode.Open)
    {
        if (HostFiles.NotRegularReason(path) is { } why)
            throw new ImageFormatException(path, $"{why}; image files must be regular files");
        SafeFileHandle handle;
        try
        {
            // Truncation waits for the lock (ImageLock): creating over an image another process holds must not empty it.
            handle = File.OpenHandle(path, mode is FileMode.Create or FileMode.Truncate ? (mode == FileMode.Create ? FileMode.OpenOrCreate : FileMode.Open) : mode,
                write ? FileAccess.ReadWrite : FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ImageFormatException(path, $"cannot open: {e.Message}");
        }
        try
        {
            ImageLock.Acquire(handle, path, write ? ImageLockMode.Write : ImageLock.ReaderMode);
            if (mode is FileMode.Create or FileMode.Truncate) RandomAccess.SetLength(handle, 0);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        return handle;
    }

    /// <summary>
    /// Finds where the data run or hole containing <paramref name="offset"/> ends.
    /// Returns false when the host cannot tell (then callers treat the range as data).
    /// </summary>
    public static bool TryGetAllocation(SafeFileHandle handle, long offset, long fileLength, out bool isData, out long runEnd)
    {
        isData = true; runEnd = fileLength;
        if (!IsLinux || offset >= fileLength) return false;
        bool addRef = false;
        try
        {
            handle.DangerousAddRef(ref addRef);
            int fd = (int)handle.DangerousGetHandle();
            long data = LSeek(fd, offset, SEEK_DATA);
            if (data < 0)
            {
                if (Marshal.GetLastPInvokeError() == ENXIO) { isData = false; runEnd = fileLength; return true; }
                return false;
            }
            if (data > offset) { isData = false; runEnd = data; return true; }
            long hole = LSeek(fd, offset, SEEK_HOLE);
            if (hole < 0) return false;
            isData = true; runEnd = Math.Min(hole, fileLength);
            return true;
        }
        finally { if (addRef) handle.DangerousRelease(); }
    }

    /// <summary>Deallocates a range without changing the file size. False when the host cannot punch holes.</summary>
    public static bool TryPunchHole(SafeFileHandle handle, long offset, long length)
    {
        if (!IsLinux || length <= 0) return false;
        bool addRef = false;
        try
        {
            handle.DangerousAddRef(ref addRef);
            return FAllocate((int)handle.DangerousGetHandle(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0;
        }
        finally { if (addRef) handle.DangerousRelease(); }
    }

    /// <summary>fdatasync: makes the file's data (and the size needed to read it) durable.</summary>
    public static void SyncData(SafeFileHandle handle, string path)
    {
        if (!IsLinux) { RandomAccess.FlushToDisk(handle); return; }
        bool addRef = false;
        try
        {
            handle.DangerousAddRef(ref addRef);
            if (FDataSync((int)handle.DangerousGetHandle()) != 0)
                throw new ImageFormatException(path, $"fdatasync failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { if (addRef) handle.DangerousRelease(); }
    }

    /// <summary>
    /// Starts writing a just-written range back to the disk without waiting (sync_file_range WRITE): a large write that
    /// an fdatasync will follow then reaches the disk while the writer produces the rest, instead of all at the
    /// fdatasync. Only a hint: it makes nothing durable, and does nothing where the host lacks it.
    /// </summary>
    public static void StartWriteback(SafeFileHandle handle, long offset, long length)
    {
        if (!IsLinux || length <= 0) return;
        bool addRef = false;
        try
        {
            handle.DangerousAddRef(ref addRef);
            SyncFileRange((int)handle.DangerousGetHandle(), offset, length, SYNC_FILE_RANGE_WRITE);
        }
        catch (EntryPointNotFoundException) { }
        finally { if (addRef) handle.DangerousRelease(); }
    }

    /// <summary>Makes a rename or file creation in <paramref name="directory"/> durable (POSIX needs an fsync of the directory).</summary>
    public static void SyncDirectory(string directory)
    {
        if (!IsLinux) return;
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { FSync(fd); }
        finally { Close(fd); }
    }

    /// <summary>Host bytes allocated to the file (st_blocks * 512), or its length when the host cannot tell.</summary>
    public static long AllocatedBytes(string path)
    {
        if (!File.Exists(path)) return 0;
        if (IsLinux)
        {
            try
            {
                // `stat -c %b` would need a process; st_blocks is reachable through statx in libc.
                if (StatBlocks(path, out long blocks)) return blocks * 512;
            }
            catch (EntryPointNotFoundException) { }
            catch (DllNotFoundException) { }
        }
        return new FileInfo(path).Length;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, Span<byte> buf);

    private static bool StatBlocks(string path, out long blocks)
    {
        // struct statx: stx_blocks is a __u64 at offset 48 (linux/stat.h); STATX_BLOCKS = 0x400.
        Span<byte> buf = stackalloc byte[256];
        const int AT_FDCWD = -100;
        if (StatX(AT_FDCWD, path, 0, 0x400, buf) != 0) { blocks = 0; return false; }
        blocks = (long)MemoryMarshal.Read<ulong>(buf.Slice(48, 8)); // native endianness
        return true;
    }
}
