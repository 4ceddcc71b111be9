namespace MiniVM.Block;

/// <summary>Rules for file names that images store about other files (irow.md §3, add-cow.md on names).</summary>
public static class ImagePaths
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
}
