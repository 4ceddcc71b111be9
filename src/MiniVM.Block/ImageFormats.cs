namespace MiniVM.Block;

/// <summary>
/// The format registry: probes by magic, creates with checked options, opens backing chains.
/// Formats register here; nothing else in the program knows the list.
/// </summary>
public sealed class ImageFormats
{
    private readonly List<IImageFormat> _formats = new();

    public static ImageFormats Default { get; } = CreateDefault();

    private static ImageFormats CreateDefault()
    {
        var r = new ImageFormats();
        // Each format folder adds itself here as it lands.
        r.Register(new Raw.RawFormat());
        r.Register(new Irow.IrowFormat());
        r.Register(new Qcow2.Qcow2Format());
        r.Register(new Qcow2.Qcow2Format("qcow3"));
        r.Register(new Fvd.FvdFormat());
        r.Register(new AddCow.AddCowFormat());
        return r;
    }

    public IReadOnlyList<IImageFormat> All => _formats;

    public void Register(IImageFormat format)
    {
        if (_formats.Any(f => f.Name == format.Name))
            throw new InvalidOperationException($"format {format.Name} registered twice");
        _formats.Add(format);
    }

    public IImageFormat Get(string name) =>
        _formats.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ImageFormatException($"unknown format '{name}' (known: {string.Join(", ", _formats.Select(f => f.Name))})");

    /// <summary>How many bytes of a file the probe looks at.</summary>
    public const int ProbeWindow = 4096;

    /// <summary>Names the format of an existing file by the highest probe score.</summary>
    public IImageFormat Probe(string fileName)
    {
        RequireRegularFile(fileName);
        byte[] head = new byte[ProbeWindow];
        int n;
        try
        {
            using var fs = new FileStream(fileName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (IOException e) { throw new ImageFormatException(fileName, $"cannot read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new ImageFormatException(fileName, $"cannot read: {e.Message}"); }
        return Probe(head.AsSpan(0, n), fileName) ?? throw new ImageFormatException(fileName, "unknown image format");
    }

    /// <summary>The format a file starting with <paramref name="head"/> (its first <see cref="ProbeWindow"/> bytes, fewer
    /// for a short file) probes as: the highest score wins; null when no format claims it.</summary>
    public IImageFormat? Probe(ReadOnlySpan<byte> head, string fileName)
    {
        IImageFormat? best = null; int bestScore = 0;
        foreach (var f in _formats)
        {
            int s = f.Probe(head, fileName);
            if (s > bestScore) { best = f; bestScore = s; }
        }
        return best;
    }

    public IBlockDriver Open(string fileName, string? format = null, ImageOpenContext? context = null)
    {
        context ??= new ImageOpenContext { Registry = this };
        if (!File.Exists(fileName)) throw new ImageFormatException(fileName, "no such file");
        RequireRegularFile(fileName);
        var f = format is null ? Probe(fileName) : Get(format);
        if (context.Chain.Count == 0) context.Chain.Add(Path.GetFullPath(fileName));
        IBlockDriver driver;
        // One open holds its files, data files and backing chain together: they may reopen each other (ImageLock).
        using (ImageLock.OpenScope())
        using (ImageLock.ShareScope(context.ForceShare && context.ReadOnly)) driver = f.Open(fileName, context);
        // QEMU's rule for a probed raw image (block/raw-format.c): its guest bytes are the file's bytes, so a guest
        // that writes an image header at offset 0 would have the next open probe another format, whose backing
        // file could name any host file. Writes that would change the probe are refused, with QEMU's warning.
        if (format is null && f is Raw.RawFormat && !driver.IsReadOnly)
        {
            context.Warning?.Invoke($"WARNING: Image format was not specified for '{fileName}' and probing guessed raw. " +
                "Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted. " +
                "Specify the 'raw' format explicitly to remove the restrictions.");
            return new ProbedRawImage(driver, this);
        }
        return driver;
    }

    /// <summary>Refuses FIFOs, devices and other non-regular files before they are opened: a FIFO blocks the open
    /// until a writer comes, a device such as /dev/zero reads without end.</summary>
    private static void RequireRegularFile(string fileName)
    {
        if (HostFiles.NotRegularReason(fileName) is { } why)
            throw new ImageFormatException(fileName, $"{why}; disk images must be regular files");
    }

    public IBlockDriver Create(string format, string fileName, long size, ImageCreateOptions options, ImageOpenContext? context = null)
    {
        var f = Get(format);
        foreach (var key in options.Values.Keys)
            if (!f.CreateOptions.Any(o => o.Key == key))
                throw new ImageFormatException($"format {f.Name} has no option '{key}' (options: {string.Join(", ", f.CreateOptions.Select(o => o.Key))})");
        if (size < 0) throw new ImageFormatException(fileName, $"size {size} is negative");
        context ??= new ImageOpenContext { Registry = this };
        context.Chain.Add(Path.GetFullPath(fileName));
        using (ImageLock.OpenScope()) return f.Create(fileName, size, options, context);
    }
}
