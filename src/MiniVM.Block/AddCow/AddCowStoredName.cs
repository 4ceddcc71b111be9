namespace MiniVM.Block.AddCow;

/// <summary>
/// The path policy for the two names an add-cow header stores (add-cow.md §5.4): the shared rule of
/// <see cref="ImagePaths.ResolveStoredName"/> (a plain name next to the image unless the user allows more), plus
/// add-cow's own refusals by default: any ':' (protocol prefixes, streams), a symlink leading out of the image's
/// directory, something that is not a regular file, and the three files aliasing each other (§5.2 item 10).
/// </summary>
internal static class AddCowStoredName
{
    /// <summary>The <c>what</c> of the backing name, which follows <see cref="ImagePaths.ResolveBackingName"/>.</summary>
    public const string BackingFile = "backing file";

    /// <summary>Resolves <paramref name="stored"/> to a host path; <paramref name="mustExist"/> also checks the file.</summary>
    public static string Resolve(string addCowPath, string stored, bool allowUnsafe, string what, bool mustExist)
    {
        // The backing file follows qemu-img's rule (absolute, or relative to this file's folder); image_file is
        // add-cow's own data and stays a plain name next to the image.
        bool backing = what == BackingFile;
        string path = backing ? ImagePaths.ResolveBackingName(addCowPath, stored, allowUnsafe)
            : ImagePaths.ResolveStoredName(addCowPath, stored, allowUnsafe, what);
        if (!allowUnsafe && stored.Contains(':'))
            throw new ImageFormatException(addCowPath,
                $"{what} name '{stored}' contains ':' (protocol prefixes are not followed; use --allow-unsafe-paths to accept it)");
        if (!File.Exists(path))
        {
            if (Directory.Exists(path)) throw new ImageFormatException(addCowPath, $"{what} '{stored}' is a directory, not a file");
            if (mustExist) throw new ImageFormatException(addCowPath, $"{what} '{stored}' does not exist");
            return path;
        }
        if (!AddCowFileType.IsRegularOrUnknown(path))
            throw new ImageFormatException(addCowPath, $"{what} '{stored}' is not a regular file (a device, FIFO or socket)");
        if (!allowUnsafe && !backing)
        {
            string real = Canonical(path);
            if (!string.Equals(Path.GetDirectoryName(real), Path.GetDirectoryName(Path.GetFullPath(path)), StringComparison.Ordinal))
                throw new ImageFormatException(addCowPath,
                    $"{what} '{stored}' is a symbolic link out of the image's directory (to {real}; use --allow-unsafe-paths to follow it)");
        }
        return path;
    }

    /// <summary>The full path with symbolic links of the file itself followed to the final target.</summary>
    public static string Canonical(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true);
            return target is null ? full : Path.GetFullPath(target.FullName);
        }
        catch (IOException) { return full; }
        catch (UnauthorizedAccessException) { return full; }
    }

    /// <summary>Refuses when two of the files are the same file (guest writes would land in the base or over the metadata).</summary>
    public static void CheckDistinct(string addCowPath, string imagePath, string? backingPath)
    {
        string a = Canonical(addCowPath), i = Canonical(imagePath);
        if (string.Equals(a, i, StringComparison.Ordinal))
            throw new ImageFormatException(addCowPath, "image_file names the add-cow file itself");
        if (backingPath is null) return;
        string b = Canonical(backingPath);
        if (string.Equals(b, a, StringComparison.Ordinal))
            throw new ImageFormatException(addCowPath, "backing_file names the add-cow file itself");
        if (string.Equals(b, i, StringComparison.Ordinal))
            throw new ImageFormatException(addCowPath, "image_file and backing_file name the same file");
    }
}
