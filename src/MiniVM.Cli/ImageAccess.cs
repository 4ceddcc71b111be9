using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>How every command opens and creates images: one place that turns bad names into the right exit code.</summary>
internal static class ImageAccess
{
    public static IBlockDriver Open(CliContext context, string file, string? format, bool readOnly,
        bool allowUnsafePaths, bool noBacking = false, bool forceShare = false)
    {
        if (forceShare && !readOnly) throw CommandFailure.Usage("--force-share/-U can only be used with read-only images");
        if (format is not null) Format(context, format);
        if (Directory.Exists(file)) throw new CommandFailure(ExitCodes.NoSuchFile, $"{file}: is a directory, not an image");
        if (!File.Exists(file)) throw new CommandFailure(ExitCodes.NoSuchFile, $"{file}: no such file");
        if (HostFiles.NotRegularReason(file) is { } why) throw new CommandFailure(ExitCodes.NoSuchFile, $"{file}: {why}, not an image");
        var open = new ImageOpenContext
        {
            ReadOnly = readOnly,
            AllowUnsafePaths = allowUnsafePaths,
            NoBacking = noBacking,
            ForceShare = forceShare,
            Registry = context.Registry,
        };
        try
        {
            return context.Registry.Open(file, format, open);
        }
        catch (ImageFormatException e) when (e.FileName is null && !e.Message.StartsWith(file, StringComparison.Ordinal))
        {
            // Every error line names the file it is about ("minivm: FILE: what was wrong").
            throw new ImageFormatException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>Creates an image through the registry; like <see cref="Open"/>, every error names the file.</summary>
    public static IBlockDriver Create(CliContext context, IImageFormat format, string file, long size, ImageCreateOptions options,
        bool allowUnsafePaths)
    {
        var open = new ImageOpenContext { AllowUnsafePaths = allowUnsafePaths, Registry = context.Registry };
        try
        {
            return context.Registry.Create(format.Name, file, size, options, open);
        }
        catch (ImageFormatException e) when (e.FileName is null && !e.Message.StartsWith(file, StringComparison.Ordinal))
        {
            throw new ImageFormatException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>The registered format called <paramref name="name"/>; an unknown name is a usage error.</summary>
    public static IImageFormat Format(CliContext context, string name)
    {
        try { return context.Registry.Get(name); }
        catch (ImageFormatException e) { throw CommandFailure.Usage(e.Message); }
    }

    /// <summary>Parses `-o k=v,...` and checks every key against the format, as a usage error.</summary>
    public static ImageCreateOptions CreateOptions(IImageFormat format, string? text)
    {
        ImageCreateOptions options;
        try { options = ImageCreateOptions.Parse(text); }
        catch (ImageFormatException e) { throw CommandFailure.Usage(e.Message); }
        foreach (var key in options.Values.Keys)
        {
            bool known = false;
            foreach (var spec in format.CreateOptions) known |= spec.Key == key;
            if (!known)
            {
                var keys = new List<string>();
                foreach (var spec in format.CreateOptions) keys.Add(spec.Key);
                throw CommandFailure.Usage(keys.Count == 0
                    ? $"format {format.Name} takes no -o options (got '{key}')"
                    : $"format {format.Name} has no option '{key}' (options: {string.Join(", ", keys)})");
            }
        }
        return options;
    }

    /// <summary>Each layer of the chain, top first, as the drivers opened it.</summary>
    public static List<IBlockDriver> Layers(IBlockDriver top)
    {
        var layers = new List<IBlockDriver>();
        for (IBlockDriver? d = top; d is not null && layers.Count <= ImageOpenContext.MaxChainDepth; d = (d as IBackingImage)?.Backing)
            layers.Add(d);
        return layers;
    }
}
