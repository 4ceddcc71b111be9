namespace MiniVM.Block;

/// <summary>
/// For formats that store a backing file name but no backing format (iROW, add-cow): the backing file is probed at
/// every open, so a format the user names for it must be what the probe will find, or the reopened image would read
/// its backing as something else.
/// </summary>
public static class UnrecordedBackingFormat
{
    /// <summary>
    /// Throws when <paramref name="format"/> is given, the file at <paramref name="path"/> exists and it probes as
    /// another format. A missing file (rebase -u to a file that is not there yet) cannot be checked and passes.
    /// </summary>
    public static void Check(ImageFormats registry, string imagePath, string path, string storedName, string? format, string why)
    {
        if (format is null || !File.Exists(path)) return;
        string probed = registry.Probe(path).Name;
        if (!string.Equals(format, probed, StringComparison.OrdinalIgnoreCase))
            throw new ImageFormatException(imagePath, $"backing file {storedName} probes as {probed}, not {format}; {why}, so it would be opened as {probed}");
    }
}
