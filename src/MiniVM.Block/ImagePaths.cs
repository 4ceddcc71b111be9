using System.Runtime.InteropServices;

namespace MiniVM.Block;

/// <summary>Rules for file names that images store about other files (irow.md §3, add-cow.md on names).</summary>
public static partial class ImagePaths
{
    /// <summary>
    /// Turns a name stored inside <paramref name="imagePath"/> into a host path. By default the name must be a plain
    /// file name (no separator, not "." or "..", not absolute) and is resolved in the image's directory; with
    /// <paramref name="allowUnsafe"/>, relative names resolve against that directory and absolute names stand.
    /// </summary>
    public static string ResolveStoredName(string imagePath, string storedName, bool allowUnsafe, string what)
    {
        if (string.IsNullOrEmpty(storedName))
            throw new ImageFormatException(imagePath, $"{what} name is empty");
        if (storedName.IndexOf('\0') >= 0)
            throw new ImageFormatException(imagePath, $"{what} name contains a NUL byte");
        string dir = Path.GetDirectoryName(Path.GetFullPath(imagePath)) ?? ".";
        bool plain = storedName != "." && storedName != ".." &&
                     storedName.IndexOfAny(['/', '\\']) < 0 && !Path.IsPathRooted(storedName);
        if (plain) return Path.Combine(dir, storedName);
        if (!allowUnsafe)
            throw new ImageFormatException(imagePath,
                $"{what} name '{storedName}' is not a plain file name next to the image (use --allow-unsafe-paths to accept it)");
        return Path.IsPathRooted(storedName) ? storedName : Path.GetFullPath(Path.Combine(dir, storedName));
    }

    /// <summary>Host trees whose files look regular to stat but are not disk data (process memory, kernel knobs).</summary>
    private static readonly string[] PseudoFileTrees = ["/proc", "/sys", "/dev"];

    /// <summary>
    /// Turns a backing file name stored inside <paramref name="imagePath"/> into a host path the way qemu-img does:
    /// an absolute name stands, a relative one (".." included) is relative to the overlay's folder, not to the
    /// working directory. The name must lead to a regular file: one that resolves (symbolic links followed) into
    /// /proc, /sys or /dev is refused unless <paramref name="allowUnsafe"/>, and a FIFO or device always is (the open
    /// would block or never end). A missing file is left to the open's own "no such file".
    /// </summary>
    public static string ResolveBackingName(string imagePath, string storedName, bool allowUnsafe)
    {
        if (string.IsNullOrEmpty(storedName))
            throw new ImageFormatException(imagePath, "backing file name is empty");
        if (storedName.IndexOf('\0') >= 0)
            throw new ImageFormatException(imagePath, "backing file name contains a NUL byte");
        string dir = Path.GetDirectoryName(Path.GetFullPath(imagePath)) ?? ".";
        string path = Path.IsPathRooted(storedName) ? storedName : Path.GetFullPath(Path.Combine(dir, storedName));
        if (HostFiles.NotRegularReason(path) is { } why)
            throw new ImageFormatException(imagePath, $"backing file '{storedName}' {why}; images must be regular files");
        if (!allowUnsafe)
        {
            string real = FinalTarget(path);
            foreach (var tree in PseudoFileTrees)
                if (real == tree || real.StartsWith(tree + "/", StringComparison.Ordinal))
                    throw new ImageFormatException(imagePath,
                        $"backing file '{storedName}' resolves to {real}, inside {tree}, not a disk image (use --allow-unsafe-paths to accept it)");
        }
        return path;
    }

    /// <summary>The path with every symbolic link on the way followed (realpath(3)); the full path when it cannot tell.</summary>
    private static string FinalTarget(string path)
    {
        string full = Path.GetFullPath(path);
        if (!OperatingSystem.IsLinux()) return full;
        IntPtr real = RealPath(full, IntPtr.Zero);
        if (real == IntPtr.Zero) return full;
        try { return Marshal.PtrToStringUTF8(real) ?? full; }
        finally { Free(real); }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPath(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);
}
