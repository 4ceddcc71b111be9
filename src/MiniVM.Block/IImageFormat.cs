namespace MiniVM.Block;

/// <summary>One image format known to the registry: how to recognise, create and open it.</summary>
public interface IImageFormat
{
    /// <summary>Registry name, as given to `-f` ("raw", "irow", "qcow2", ...).</summary>
    string Name { get; }

    /// <summary>The `-o` options create accepts, for `--help` and for rejecting unknown keys.</summary>
    IReadOnlyList<CreateOptionSpec> CreateOptions { get; }

    /// <summary>
    /// How sure the format is that a file starting with <paramref name="head"/> (up to 4 KiB, fewer for short files)
    /// is one of its images: 0 = no, 100 = magic matched. raw answers 1 for anything.
    /// </summary>
    int Probe(ReadOnlySpan<byte> head, string fileName);

    /// <summary>Creates a new image of <paramref name="size"/> bytes. The returned driver is open read-write.</summary>
    IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context);

    /// <summary>Opens an existing image; a backing image, if any, is opened through <paramref name="context"/>.</summary>
    IBlockDriver Open(string fileName, ImageOpenContext context);
}

/// <summary>Description of one `-o key=value` create option.</summary>
public sealed record CreateOptionSpec(string Key, string Description, string? Default = null);

/// <summary>
/// The `-o key=value[,key=value]` options of a create, plus `-b`/`-F`. Unknown keys are an error naming the key
/// (checked by the registry against <see cref="IImageFormat.CreateOptions"/>).
/// </summary>
public sealed class ImageCreateOptions
{
    public Dictionary<string, string> Values { get; } = new(StringComparer.Ordinal);
    public string? BackingFile { get; set; }
    public string? BackingFormat { get; set; }

    public static ImageCreateOptions Parse(string? text)
    {
        var o = new ImageCreateOptions();
        if (string.IsNullOrEmpty(text)) return o;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new ImageFormatException($"option '{part}' is not key=value");
            o.Values[part[..eq].Trim()] = part[(eq + 1)..].Trim();
        }
        return o;
    }

    public string? Get(string key) => Values.TryGetValue(key, out var v) ? v : null;

    public bool GetBool(string key, bool fallback) => Get(key) switch
    {
        null => fallback,
        "on" or "true" or "yes" or "1" => true,
        "off" or "false" or "no" or "0" => false,
        var v => throw new ImageFormatException($"option {key}={v}: expected on or off"),
    };

    public long GetSize(string key, long fallback) => Get(key) is { } v ? SizeParser.Parse(v, key) : fallback;
}

/// <summary>How an open proceeds: access mode, path policy, and how backing files are opened.</summary>
public sealed class ImageOpenContext
{
    public bool ReadOnly { get; init; }

    /// <summary>
    /// Allow file names stored inside an image to be absolute or contain separators / "..".
    /// Off by default: a stored name is a plain name resolved next to the image (irow.md §3).
    /// </summary>
    public bool AllowUnsafePaths { get; init; }

    /// <summary>
    /// qemu-img's -U/--force-share: read-only opens of this image and its backing files take no lock that would stop
    /// another process from writing (<see cref="ImageLock"/>). Writable opens lock as writers regardless.
    /// </summary>
    public bool ForceShare { get; init; }

    /// <summary>
    /// The opener is a running VM: work a format does in the background while a guest runs may start (FVD's prefetch
    /// after prefetch_start_delay). Tools leave it off, as QEMU's tools force prefetch off (fvd.md §3.2 step 3).
    /// </summary>
    public bool PrefetchInBackground { get; init; }

    /// <summary>Open the image without its backing chain (for `info`/`check` of one layer).</summary>
    public bool NoBacking { get; init; }

    /// <summary>Where the registry sends a warning about the open (e.g. a probed raw image's restricted block 0); null: nowhere.</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>Files already open in this chain, to refuse cycles.</summary>
    internal HashSet<string> Chain { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Maximum backing chain depth, against hostile images.</summary>
    public const int MaxChainDepth = 64;

    public ImageFormats Registry { get; init; } = ImageFormats.Default;

    /// <summary>
    /// This context with ReadOnly off and everything else kept: a create hands back its new image open read-write
    /// (<see cref="IImageFormat.Create"/>) whatever access the caller's context asked for.
    /// </summary>
    internal ImageOpenContext AsReadWrite() => new()
    {
        ReadOnly = false,
        AllowUnsafePaths = AllowUnsafePaths,
        NoBacking = NoBacking,
        Registry = Registry,
        Chain = Chain,
    };

    /// <summary>
    /// Opens the backing image named inside <paramref name="imagePath"/>, always read-only, through the registry.
    /// <paramref name="storedName"/> is resolved as qemu-img does, with <see cref="ImagePaths.ResolveBackingName"/>.
    /// </summary>
    public IBlockDriver OpenBacking(string imagePath, string storedName, string? format)
    {
        string path = ImagePaths.ResolveBackingName(imagePath, storedName, AllowUnsafePaths);
        string full = Path.GetFullPath(path);
        if (Chain.Contains(full) || Chain.Count >= MaxChainDepth)
            throw new ImageFormatException(imagePath, $"backing chain through '{storedName}' is a cycle or deeper than {MaxChainDepth}");
        var child = new ImageOpenContext
        {
            ReadOnly = true,
            AllowUnsafePaths = AllowUnsafePaths,
            ForceShare = ForceShare,
            Registry = Registry,
            Chain = new HashSet<string>(Chain, StringComparer.Ordinal) { full },
        };
        return Registry.Open(path, format, child);
    }
}
