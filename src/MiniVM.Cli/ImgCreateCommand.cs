using System.CommandLine;
using System.Globalization;
using System.Text;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>`minivm img create -f FMT [-o k=v,...] [-b BACKING [-F BFMT]] FILE [SIZE]`.</summary>
internal static class ImgCreateCommand
{
    public static Command Create(CliContext context)
    {
        var format = new Option<string>("-f", "--format") { Description = "format of the new image", HelpName = "FMT", Required = true };
        var options = new Option<string?>("-o", "--options") { Description = "format options k=v[,k=v] ('-o help' lists them)", HelpName = "OPTIONS" };
        var backing = new Option<string?>("-b", "--backing") { Description = "backing file, stored as given and resolved next to FILE", HelpName = "BACKING" };
        var backingFormat = new Option<string?>("-F", "--backing-format") { Description = "format of the backing file (probed when omitted)", HelpName = "BFMT" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File("FILE", "image file to create");
        var size = new Argument<string?>("SIZE") { Description = "virtual size, e.g. 64M, 10G (default: the backing file's size)", Arity = ArgumentArity.ZeroOrOne };

        var cmd = new Command("create", "create a new disk image") { format, options, backing, backingFormat, unsafePaths, file, size };
        cmd.SetAction(parse => Run(context,
            parse.GetRequiredValue(format), parse.GetValue(options), parse.GetValue(backing), parse.GetValue(backingFormat),
            parse.GetValue(unsafePaths), parse.GetRequiredValue(file), parse.GetValue(size)));
        return cmd;
    }

    private static int Run(CliContext context, string formatName, string? optionText, string? backing, string? backingFormat,
        bool allowUnsafe, string file, string? sizeText)
    {
        var format = ImageAccess.Format(context, formatName);
        if (optionText is "help" or "?")
        {
            PrintOptionHelp(context, format);
            return ExitCodes.Success;
        }
        var options = ImageAccess.CreateOptions(format, optionText);
        if (backingFormat is not null && backing is null) throw CommandFailure.Usage("-F needs -b BACKING");

        long? size = sizeText is null ? null : CliNumbers.Size(sizeText, "size");
        if (backing is not null)
        {
            if (backingFormat is not null) ImageAccess.Format(context, backingFormat);
            // Open the backing now: a typo in -b is reported before anything is written, and SIZE may come from it.
            string backingPath = ImagePaths.ResolveBackingName(file, backing, allowUnsafe);
            using var b = ImageAccess.Open(context, backingPath, backingFormat, readOnly: true, allowUnsafe);
            size ??= b.Size;
            options.BackingFile = backing;
            options.BackingFormat = backingFormat ?? b.FormatName;
        }
        if (size is null) throw CommandFailure.Usage("SIZE is required when there is no backing file (-b)");

        context.Out.WriteLine(Describe(file, format.Name, size.Value, options));
        using var image = ImageAccess.Create(context, format, file, size.Value, options, allowUnsafe);
        image.Flush();
        return ExitCodes.Success;
    }

    /// <summary>qemu-img's confirmation line: "Formatting 'FILE', fmt=raw size=67108864 ...".</summary>
    private static string Describe(string file, string format, long size, ImageCreateOptions options)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Formatting '{file}', fmt={format}");
        foreach (var (k, v) in options.Values) sb.Append(CultureInfo.InvariantCulture, $" {k}={v}");
        sb.Append(CultureInfo.InvariantCulture, $" size={size}");
        if (options.BackingFile is not null) sb.Append(CultureInfo.InvariantCulture, $" backing_file={options.BackingFile}");
        if (options.BackingFormat is not null) sb.Append(CultureInfo.InvariantCulture, $" backing_fmt={options.BackingFormat}");
        return sb.ToString();
    }

    private static void PrintOptionHelp(CliContext context, IImageFormat format)
    {
        context.Out.WriteLine($"Supported options for {format.Name}:");
        if (format.CreateOptions.Count == 0) context.Out.WriteLine("  (none)");
        foreach (var o in format.CreateOptions)
            context.Out.WriteLine(o.Default is null
                ? $"  {o.Key,-24} {o.Description}"
                : $"  {o.Key,-24} {o.Description} (default: {o.Default})");
    }
}
