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

    /// <summary>Names the format of an existing file by the highest probe score.</summary>
    public IImageFormat Probe(string fileName)
    {
        byte[] head = new byte[4096];
        int n;
        try
        {
            using var fs = new FileStream(fileName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (IOException e) { throw new ImageFormatException(fileName, $"cannot read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new ImageFormatException(fileName, $"cannot read: {e.Message}"); }
        IImageFormat? best = null; int bestScore = 0;
        foreach (var f in _formats)
        {
            int s = f.Probe(head.AsSpan(0, n), fileName);
            if (s > bestScore) { best = f; bestScore = s; }
        }
        return best ?? throw new ImageFormatException(fileName, "unknown image format");
    }

    public IBlockDriver Open(string fileName, string? format = null, ImageOpenContext? context = null)
    {
        context ??= new ImageOpenContext { Registry = this };
        if (!File.Exists(fileName)) throw new ImageFormatException(fileName, "no such file");
        var f = format is null ? Probe(fileName) : Get(format);
        if (context.Chain.Count == 0) context.Chain.Add(Path.GetFullPath(fileName));
        return f.Open(fileName, context);
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
        return f.Create(fileName, size, options, context);
    }
}
