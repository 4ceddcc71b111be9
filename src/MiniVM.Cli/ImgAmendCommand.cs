using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img amend -o OPTIONS [-f FMT] FILE`, like qemu-img amend: changes what an existing image lets change,
/// each through the capability that does it: `size` (the format can resize), `backing_file`/`backing_fmt` (the
/// format stores a rewritable backing link; only the link changes, as in qemu-img), and what the image's
/// <see cref="IAmendableOptions"/> names (qcow2: compat, refcount_bits). Every other create option is fixed once the
/// image exists.
/// </summary>
internal static class ImgAmendCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var options = new Option<string>("-o", "--options") { Description = "what to change, k=v[,k=v]: size, backing_file, backing_fmt, and per format e.g. qcow2 compat, refcount_bits", HelpName = "OPTIONS", Required = true };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("amend", "change options of an existing image") { format, options, unsafePaths, file };
        cmd.SetAction(parse => Run(context, parse.GetRequiredValue(file), parse.GetValue(format), parse.GetRequiredValue(options), parse.GetValue(unsafePaths)));
        return cmd;
    }

    private static int Run(CliContext context, string file, string? format, string optionText, bool allowUnsafe)
    {
        ImageCreateOptions options;
        try { options = ImageCreateOptions.Parse(optionText); }
        catch (ImageFormatException e) { throw CommandFailure.Usage(e.Message); }
        if (options.Values.Count == 0) throw CommandFailure.Usage("-o names nothing to change");
        using var image = ImageAccess.Open(context, file, format, readOnly: false, allowUnsafe, noBacking: true);
        var known = context.Registry.Get(image.FormatName).CreateOptions.Select(o => o.Key).ToHashSet(StringComparer.Ordinal);
        var amendable = image as IAmendableOptions;
        foreach (var key in options.Values.Keys)
        {
            if (key is "size" or "backing_file" or "backing_fmt") continue;
            if (amendable?.AmendableOptions.Contains(key) == true) continue;
            if (!known.Contains(key))
                throw CommandFailure.Usage($"format {image.FormatName} has no option '{key}'");
            throw CommandFailure.Unsupported(file, $"option '{key}' of format {image.FormatName} is set when the image is created and cannot be amended");
        }
        // Everything is checked before anything changes.
        long? newSize = options.Get("size") is { } s ? CliNumbers.Size(s, "size") : null;
        if (newSize is not null && image is not IResizable)
            throw CommandFailure.Unsupported(file, $"format {image.FormatName} cannot be resized");
        bool relink = options.Get("backing_file") is not null || options.Get("backing_fmt") is not null;
        if (relink && image is not IBackingLink)
            throw CommandFailure.Unsupported(file, $"format {image.FormatName} cannot change its backing file");
        if (options.Get("backing_fmt") is { } bf) ImageAccess.Format(context, bf);
        bool reshape = amendable is not null && options.Values.Keys.Any(amendable.AmendableOptions.Contains);
        if (reshape) Refusing(file, () => amendable!.CheckAmend(options));
        if (newSize is { } size && size != image.Size) ((IResizable)image).Resize(size);
        if (relink)
        {
            var link = (IBackingLink)image;
            string? name = options.Get("backing_file") ?? link.BackingFileName;
            if (name is not null && name.Length == 0) name = null;
            if (name is null && options.Get("backing_fmt") is not null)
                throw CommandFailure.Usage("backing_fmt given for an image without a backing file");
            link.SetBackingFile(name, options.Get("backing_fmt") ?? (options.Get("backing_file") is null ? link.BackingFormat : null));
        }
        // Last, as qemu-img does: a downgrade is checked against the image as resized and relinked.
        if (reshape) Refusing(file, () => amendable!.Amend(options));
        image.Flush();
        return ExitCodes.Success;
    }

    /// <summary>A bad value is a usage error (64); a change the image's features or content forbid is exit 69.</summary>
    private static void Refusing(string file, Action amend)
    {
        try { amend(); }
        catch (ImageFormatException e) when (e.FileName is null) { throw CommandFailure.Usage(e.Message); }
        catch (NotSupportedException e) { throw CommandFailure.Unsupported(file, e.Message); }
    }
}
