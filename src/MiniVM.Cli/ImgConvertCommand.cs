using System.CommandLine;
using System.Globalization;
using MiniVM.Block;
using Spectre.Console;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img convert [-f FMT] -O FMT [-B BACKING [-F BFMT]] [-o ...] [-S SIZE] [-c] [-n] [-p] IN OUT`: copies the
/// content of a whole chain into a new image (or, with -n, an existing one), leaving holes where the source is zero
/// (<see cref="ImageCopy"/>); -c stores every cluster compressed where the format can.
/// </summary>
internal static class ImgConvertCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format("format of IN (probed when omitted)");
        var outFormat = new Option<string?>("-O", "--output-format") { Description = "format of OUT (raw when omitted; with -n, probed)", HelpName = "FMT" };
        var compress = new Option<bool>("-c", "--compress") { Description = "store OUT's clusters compressed (qcow2)" };
        var noCreate = new Option<bool>("-n", "--no-create") { Description = "OUT exists already: write into it instead of creating it" };
        var options = new Option<string?>("-o", "--options") { Description = "options for OUT, k=v[,k=v]", HelpName = "OPTIONS" };
        var progress = new Option<bool>("-p", "--progress") { Description = "show a progress bar" };
        var sparse = new Option<string?>("-S", "--sparse-size")
        {
            Description = "bytes of zeroes (a multiple of 512) that make a hole in OUT (default 4k; 0: allocate everything)",
            HelpName = "SIZE",
        };
        var backing = new Option<string?>("-B", "--backing")
        {
            Description = "OUT is an overlay of BACKING, which holds what IN's backing holds: only IN's top layer is copied",
            HelpName = "BACKING",
        };
        var backingFormat = new Option<string?>("-F", "--backing-format") { Description = "format of BACKING (probed when omitted)", HelpName = "BFMT" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var input = CliOptions.File("IN", "source image (its backing chain is read through)");
        var output = CliOptions.File("OUT", "image to create");
        var cmd = new Command("convert", "copy an image into a new image of any format") { format, outFormat, compress, noCreate, options, progress, sparse, backing, backingFormat, unsafePaths, share, input, output };
        cmd.SetAction(parse => Run(context, parse.GetRequiredValue(input), parse.GetRequiredValue(output), parse.GetValue(format),
            parse.GetValue(outFormat), parse.GetValue(options), parse.GetValue(progress), parse.GetValue(unsafePaths),
            parse.GetValue(sparse), parse.GetValue(backing), parse.GetValue(backingFormat), parse.GetValue(compress), parse.GetValue(noCreate), parse.GetValue(share)));
        return cmd;
    }

    private static int Run(CliContext context, string input, string output, string? format, string? outFormatName,
        string? optionText, bool showProgress, bool allowUnsafe, string? sparseText, string? backing, string? backingFormat,
        bool compress, bool noCreate, bool forceShare)
    {
        if (noCreate) return RunInto(context, input, output, format, outFormatName, optionText, showProgress, allowUnsafe,
            sparseText, backing, compress);
        var outFormat = ImageAccess.Format(context, outFormatName ?? "raw");
        // qemu-img's check, made before anything is created.
        if (compress && outFormat is not ICompressedWritesFormat)
            throw CommandFailure.Unsupported(output, $"format {outFormat.Name} does not support compressed clusters (-c)");
        var options = ImageAccess.CreateOptions(outFormat, optionText);
        int sparseSize = SparseSize(sparseText);
        if (backingFormat is not null && backing is null) throw CommandFailure.Usage("-F needs -B BACKING");
        if (backing is not null && options.Get("backing_file") is not null)
            throw CommandFailure.Usage("-B and -o backing_file both name a backing file; give one");
        if (string.Equals(Path.GetFullPath(input), Path.GetFullPath(output), StringComparison.Ordinal))
            throw CommandFailure.Usage($"{output}: OUT is the same file as IN");
        using var source = ImageAccess.Open(context, input, format, readOnly: true, allowUnsafe, forceShare: forceShare);
        if (backing is not null)
        {
            if (backingFormat is not null) ImageAccess.Format(context, backingFormat);
            // As in create: a typo in -B is reported before OUT exists.
            string backingPath = ImagePaths.ResolveBackingName(output, backing, allowUnsafe);
            using var b = ImageAccess.Open(context, backingPath, backingFormat, readOnly: true, allowUnsafe);
            options.BackingFile = backing;
            options.BackingFormat = backingFormat ?? b.FormatName;
        }
        var chain = new ImageChain(source);
        using var target = ImageAccess.Create(context, outFormat, output, source.Size, options, allowUnsafe);
        var copy = new ImageCopy(chain, sparseSize, topLayerOnly: backing is not null);
        Copy(context, copy, target, source.Size, showProgress, compress);
        return ExitCodes.Success;
    }

    /// <summary>
    /// `-n`: OUT already exists (made by the user, perhaps with options convert cannot give) and is written in place,
    /// every byte of it: runs the source reads as zeroes are zeroed, since OUT may hold anything there.
    /// </summary>
    private static int RunInto(CliContext context, string input, string output, string? format, string? outFormatName,
        string? optionText, bool showProgress, bool allowUnsafe, string? sparseText, string? backing, bool compress)
    {
        if (optionText is not null || backing is not null)
            throw CommandFailure.Usage("-n writes into an existing image: -o and -B, which describe a new one, do not apply");
        int sparseSize = SparseSize(sparseText);
        if (string.Equals(Path.GetFullPath(input), Path.GetFullPath(output), StringComparison.Ordinal))
            throw CommandFailure.Usage($"{output}: OUT is the same file as IN");
        using var source = ImageAccess.Open(context, input, format, readOnly: true, allowUnsafe);
        using var target = ImageAccess.Open(context, output, outFormatName, readOnly: false, allowUnsafe);
        if (target.Size < source.Size)
            throw new ImageFormatException(output, $"OUT is smaller than IN ({target.Size} < {source.Size} bytes); resize it first");
        if (compress && target is not ICompressedWrites)
            throw CommandFailure.Unsupported(output, $"format {target.FormatName} does not support compressed clusters (-c)");
        var copy = new ImageCopy(new ImageChain(source), sparseSize, targetReadsZero: false);
        Copy(context, copy, target, source.Size, showProgress, compress);
        return ExitCodes.Success;
    }

    private static void Copy(CliContext context, ImageCopy copy, IBlockDriver target, long size, bool showProgress, bool compress)
    {
        Action<Action<long>?> run = compress
            ? p => copy.CopyCompressedTo(target, (ICompressedWrites)target, p)
            : p => copy.CopyTo(target, p);
        if (!showProgress) run(null);
        else if (context.IsTerminal) CopyWithBar(context, run, size);
        else CopyWithLines(context, run, size);
    }

    /// <summary>`-S`: qemu-img's rule, a multiple of 512 (0 allowed); ours also caps it so one block fits the buffer.</summary>
    private static int SparseSize(string? text)
    {
        if (text is null) return ImageCopy.DefaultSparseSize;
        long v = CliNumbers.Size(text, "sparse size");
        if (v % 512 != 0 || v > ImageCopy.MaxSparseSize)
            throw CommandFailure.Usage($"sparse size '{text}' must be a multiple of 512 up to {ImageCopy.MaxSparseSize} (0 allocates everything)");
        return (int)v;
    }

    private static void CopyWithBar(CliContext context, Action<Action<long>?> copy, long size)
    {
        context.CreateConsole().Progress()
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(p =>
            {
                var task = p.AddTask("convert", maxValue: Math.Max(1, size));
                copy(done => task.Value = done);
                task.Value = task.MaxValue;
            });
    }

    /// <summary>Not a terminal: one line per 10 % done, in qemu-img's "(NN.NN/100%)" form.</summary>
    private static void CopyWithLines(CliContext context, Action<Action<long>?> copy, long size)
    {
        int lastTenth = -1;
        void Report(long done)
        {
            int tenth = size == 0 ? 10 : (int)(done * 10 / size);
            if (tenth == lastTenth) return;
            lastTenth = tenth;
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    ({tenth * 10.0:0.00}/100%)"));
        }
        Report(0);
        copy(Report);
        Report(size);
    }
}
