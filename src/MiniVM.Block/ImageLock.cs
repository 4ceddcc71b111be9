using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block;

/// <summary>How an open file of an image is locked against other processes (QEMU's permission model).</summary>
public enum ImageLockMode
{
    /// <summary>A writer: reads, writes and may grow the file; nobody else may write or resize it meanwhile.</summary>
    Write,

    /// <summary>A reader that wants consistent data (qemu-img without -U, a backing file): refuses a concurrent writer.</summary>
    Read,

    /// <summary>qemu-img's -U/--force-share: reads whatever is there and leaves every other process free to write.</summary>
    ForceShare,
}

/// <summary>
/// Image locking exactly as QEMU's block/file-posix.c does it, so MiniVM, qemu-img, qemu-io and a running QEMU see each
/// other's locks: open-file-description (OFD) byte-range locks, all of them shared (F_RDLCK), one byte per permission.
/// Byte 100+p says "I hold permission p", byte 200+p says "I do not let anyone else have p". An open takes its bytes
/// first and then tests the opposite ones with F_OFD_GETLK: someone else's 200+p for each p it wants ('Failed to get
/// "write" lock'), someone else's 100+p for each p it refuses to share ('Failed to get shared "write" lock'). Taking
/// before testing means two racing opens both fail rather than both succeed. The locks belong to the open file
/// description, so closing the handle (or the process dying, even by kill -9) releases them.
/// </summary>
public static partial class ImageLock
{
    // QEMU's BLK_PERM_* bit numbers (include/block/block-common.h) and the names bdrv_perm_names prints.
    private const int ConsistentRead = 0, WritePerm = 1, WriteUnchanged = 2, Resize = 3;
    private static readonly string[] PermNames = ["consistent read", "write", "write unchanged", "resize"];
    private const int PermBase = 100, SharedBase = 200;

    // (what this open holds, what it lets others hold), as qemu-img opens with BDRV_O_NO_SHARE unless -U.
    private static (int[] Held, int[] Unshared) Permissions(ImageLockMode mode) => mode switch
    {
        ImageLockMode.Write => ([ConsistentRead, WritePerm, Resize], [WritePerm, Resize]),
        ImageLockMode.Read => ([ConsistentRead], [WritePerm, Resize]),
        _ => ([ConsistentRead], []),
    };

    private const int F_OFD_GETLK = 36, F_OFD_SETLK = 37;
    private const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    private const int EINVAL = 22, ENOLCK = 37, EOPNOTSUPP = 95;

    /// <summary>struct flock of Linux (same layout on x86-64 and arm64; l_start/l_len are 64-bit off_t).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int cmd, ref Flock lk);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    /// <summary>
    /// The handles this process has locked, by file identity, with their mode and the open they belong to. OFD locks of
    /// two opens of one file in the same process conflict with each other just as between processes, but the kernel
    /// cannot tell a driver reopening a file it already holds (iROW's repair of its own btmp, a backing file two
    /// overlays share) from a second, unrelated open. So this table decides within the process: a conflict between
    /// two <see cref="OpenScope"/>s (two front-door opens: a VM's disk and a monitor or in-process tool opening it
    /// again) is refused with QEMU's message, like one between processes; a reopen inside the same open, or one a
    /// driver makes later on its own (no scope), is the same holder and passes.
    /// </summary>
    private static readonly Dictionary<(ulong Dev, ulong Ino), List<Holder>> Held = new();

    private sealed record Holder(WeakReference<SafeFileHandle> Handle, ImageLockMode Mode, object? Open);

    private static readonly AsyncLocal<object?> CurrentOpen = new();

    /// <summary>
    /// Marks the files locked until the returned scope ends as one open of an image (its own files, data files and
    /// backing chain). Nested scopes join the outer one. <see cref="ImageFormats"/> wraps every open and create in one.
    /// </summary>
    public static IDisposable OpenScope()
    {
        if (CurrentOpen.Value is not null) return NoScope.Instance;
        var scope = new OpenMark();
        CurrentOpen.Value = scope;
        return scope;
    }

    private sealed class OpenMark : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            CurrentOpen.Value = null;
        }
    }

    /// <summary>
    /// Takes the lock bytes of <paramref name="mode"/> on <paramref name="handle"/> and checks that no other process,
    /// and no other open of this process, holds a conflicting one. Throws <see cref="ImageLockedException"/> naming the
    /// permission, as QEMU words it. Hosts without OFD locks (not Linux, a file system that refuses them) are opened
    /// unlocked, as QEMU does with locking=auto.
    /// </summary>
    public static void Acquire(SafeFileHandle handle, string path, ImageLockMode mode)
    {
        if (!OperatingSystem.IsLinux()) return;
        bool addRef = false;
        try
        {
            handle.DangerousAddRef(ref addRef);
            int fd = (int)handle.DangerousGetHandle();
            var (held, unshared) = Permissions(mode);
            foreach (int p in held)
                if (!SetShared(fd, PermBase + p)) return;
            foreach (int p in unshared)
                if (!SetShared(fd, SharedBase + p)) return;
            var id = Identity(fd);
            object? open = CurrentOpen.Value;
            if (id is { } file && open is not null)
                for (int attempt = 0; InProcessConflict(file, handle, held, unshared, open) is { } conflict; attempt++)
                {
                    // A handle dropped without Dispose stays in the table until its finalizer runs.
                    if (attempt > 0) throw new ImageLockedException(path, conflict);
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
            bool ours = id is { } key && HeldElsewhereInProcess(key, handle);
            for (int attempt = 0; !ours; attempt++)
            {
                string? conflict = Conflict(fd, held, unshared);
                if (conflict is null) break;
                // Two ways a lock can be a ghost of this process: a handle dropped without Dispose whose finalizer has not
                // run, and a child process between fork and exec, which shares every descriptor until exec closes it.
                // Both pass within moments; another process's lock stays.
                if (attempt == 0) { GC.Collect(); GC.WaitForPendingFinalizers(); continue; }
                if (attempt >= GhostRetries) throw new ImageLockedException(path, conflict);
                Thread.Sleep(GhostRetryMs);
            }
            if (id is { } k) Remember(k, handle, mode, open);
        }
        finally { if (addRef) handle.DangerousRelease(); }
    }

    /// <summary>QEMU's message for the first permission another open of this process denies, or null.</summary>
    private static string? InProcessConflict((ulong, ulong) key, SafeFileHandle handle, int[] held, int[] unshared, object open)
    {
        lock (Held)
        {
            if (!Held.TryGetValue(key, out var list)) return null;
            list.RemoveAll(h => !h.Handle.TryGetTarget(out var x) || x.IsClosed);
            foreach (var h in list)
            {
                if (ReferenceEquals(h.Open, open) || !h.Handle.TryGetTarget(out var other) || ReferenceEquals(other, handle)) continue;
                var (theirHeld, theirUnshared) = Permissions(h.Mode);
                foreach (int p in held)
                    if (theirUnshared.Contains(p)) return $"Failed to get \"{PermNames[p]}\" lock";
                foreach (int p in unshared)
                    if (theirHeld.Contains(p)) return $"Failed to get shared \"{PermNames[p]}\" lock";
            }
            return null;
        }
    }

    private const int GhostRetries = 10, GhostRetryMs = 50;

    /// <summary>QEMU's message for the first conflicting byte (raw_check_lock_bytes), or null when there is none.</summary>
    private static string? Conflict(int fd, int[] held, int[] unshared)
    {
        foreach (int p in held)
            if (Taken(fd, SharedBase + p)) return $"Failed to get \"{PermNames[p]}\" lock";
        foreach (int p in unshared)
            if (Taken(fd, PermBase + p)) return $"Failed to get shared \"{PermNames[p]}\" lock";
        return null;
    }

    /// <summary>F_OFD_SETLK of one shared byte; false when the host has no OFD locks (then the file stays unlocked).</summary>
    private static bool SetShared(int fd, long offset)
    {
        var lk = new Flock { Type = F_RDLCK, Whence = 0, Start = offset, Length = 1 };
        if (Fcntl(fd, F_OFD_SETLK, ref lk) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EINVAL or ENOLCK or EOPNOTSUPP) return false;
        // A shared lock can only be refused by someone's exclusive one, which no QEMU-style locker takes.
        throw new ImageLockedException(null, $"cannot lock byte {offset} (errno {errno})");
    }

    /// <summary>Whether some other open file description holds a lock on the byte (F_OFD_GETLK with a write lock probe).</summary>
    private static bool Taken(int fd, long offset)
    {
        var lk = new Flock { Type = F_WRLCK, Whence = 0, Start = offset, Length = 1 };
        if (Fcntl(fd, F_OFD_GETLK, ref lk) != 0) return false;
        return lk.Type != F_UNLCK;
    }

    private static (ulong, ulong)? Identity(int fd)
    {
        // statx(fd, "", AT_EMPTY_PATH): stx_ino (u64) at 32, stx_dev_major/minor (u32) at 136/140.
        Span<byte> buffer = stackalloc byte[256];
        if (Statx(fd, "", 0x1000, 0x100, buffer) != 0) return null;
        ulong ino = MemoryMarshal.Read<ulong>(buffer[32..]);
        ulong dev = ((ulong)MemoryMarshal.Read<uint>(buffer[136..]) << 32) | MemoryMarshal.Read<uint>(buffer[140..]);
        return (dev, ino);
    }

    private static bool HeldElsewhereInProcess((ulong, ulong) key, SafeFileHandle handle)
    {
        lock (Held)
        {
            if (!Held.TryGetValue(key, out var list)) return false;
            list.RemoveAll(h => !h.Handle.TryGetTarget(out var x) || x.IsClosed);
            foreach (var h in list)
                if (h.Handle.TryGetTarget(out var x) && !ReferenceEquals(x, handle)) return true;
            return false;
        }
    }

    private static void Remember((ulong, ulong) key, SafeFileHandle handle, ImageLockMode mode, object? open)
    {
        lock (Held)
        {
            if (!Held.TryGetValue(key, out var list)) Held[key] = list = new();
            list.RemoveAll(h => !h.Handle.TryGetTarget(out var x) || x.IsClosed);
            list.Add(new Holder(new WeakReference<SafeFileHandle>(handle), mode, open));
        }
    }

    /// <summary>
    /// The mode read-only opens on this thread use: <see cref="ImageLockMode.Read"/> unless a caller asked for
    /// force-share around an open (<see cref="ShareScope"/>). Writable opens always lock as writers.
    /// </summary>
    public static ImageLockMode ReaderMode => ForceShareDepth.Value > 0 ? ImageLockMode.ForceShare : ImageLockMode.Read;

    private static readonly AsyncLocal<int> ForceShareDepth = new();

    /// <summary>
    /// While the returned scope lives, read-only opens on this flow take only the "consistent read" byte (-U). An
    /// ambient scope rather than a parameter because the drivers open their files (data files, backing files) deep
    /// inside their own Open, and every one of them must follow the user's choice.
    /// </summary>
    public static IDisposable ShareScope(bool forceShare)
    {
        if (!forceShare) return NoScope.Instance;
        ForceShareDepth.Value++;
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            ForceShareDepth.Value--;
        }
    }

    private sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }
}

/// <summary>Another process holds a lock that conflicts with this open (QEMU's "Failed to get "write" lock").</summary>
public sealed class ImageLockedException : ImageFormatException
{
    public ImageLockedException(string? fileName, string message)
        : base(fileName, fileName is null ? message : $"{message}. Is another process using the image [{fileName}]?") { }
}
