using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img measure [-O FMT] [-o OPTIONS] (--size N | [-f FMT] FILE) [--output human|json]`, like qemu-img
/// measure: the host bytes a new image of FMT needs for FILE's content (or an empty disk of N bytes), fully allocated,
/// and (qcow2 v3 to qcow2 v3) what FILE's persistent bitmaps would take.
/// </summary>
internal static class ImgMeasureCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format("format of FILE (probed when omitted)");
        var outFormat = new Option<string>("-O", "--output-format") { Description = "format of the new image", HelpName = "FMT", DefaultValueFactory = _ => "raw" };
        var options = new Option<string?>("-o", "--options") { Description = "create options of the new image, k=v[,k=v]", HelpName = "OPTIONS" };
        var size = new Option<string?>("--size") { Description = "measure an empty disk of this size instead of FILE", HelpName = "N" };
        var output = CliOptions.Output();
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File("FILE", "image whose content the new image would hold");
        file.Arity = ArgumentArity.ZeroOrOne;
        var cmd = new Command("measure", "how large a new image would be") { format, outFormat, options, size, output, unsafePaths, file };
        cmd.SetAction(parse => Run(context, parse.GetValue(file), parse.GetValue(format), parse.GetRequiredValue(outFormat),
            parse.GetValue(options), parse.GetValue(size), parse.GetRequiredValue(output), parse.GetValue(unsafePaths)));
        return cmd;
    }

    private static int Run(CliContext context, string? file, string? format, string outFormatName, string? optionText,
        string? sizeText, string output, bool allowUnsafe)
    {
        var outFormat = ImageAccess.Format(context, outFormatName);
        var options = ImageAccess.CreateOptions(outFormat, optionText);
        if (file is null == sizeText is null)
            throw CommandFailure.Usage(file is null ? "give either --size N or one FILE" : "--size N cannot be used together with a FILE");
        if (outFormat is not IMeasurableFormat measurable)
            throw CommandFailure.Unsupported(file ?? outFormat.Name, $"format {outFormat.Name} cannot estimate the size of its images");
        ImageMeasure m;
        long? bitmaps = null;
        try
        {
            if (file is null) m = measurable.Measure(CliNumbers.Size(sizeText!, "size"), options, null);
            else
            {
                using var source = ImageAccess.Open(context, file, format, readOnly: true, allowUnsafe);
                var chain = new ImageChain(source);
                m = measurable.Measure(source.Size, options, granule => DataBytes(chain, granule));
                // qemu-img reports bitmaps only when both the source and the new image can hold them (qcow2 v3).
                if (source is IPersistentBitmaps { PersistentBitmaps: { } held } && outFormat is IPersistentBitmapsFormat store)
                    bitmaps = store.BitmapsSize(source.Size, options, held);
            }
        }
        catch (ImageFormatException e) when (e.FileName is null) { throw CommandFailure.Usage(e.Message); }
        if (output == "json")
            context.Out.WriteLine(JsonText.Write(w =>
            {
                w.WriteStartObject();
                if (bitmaps is { } b) w.WriteNumber("bitmaps", b);
                w.WriteNumber("required", m.Required);
                w.WriteNumber("fully-allocated", m.FullyAllocated);
                w.WriteEndObject();
            }));
        else
        {
            context.Out.WriteLine($"required size: {m.Required}");
            context.Out.WriteLine($"fully allocated size: {m.FullyAllocated}");
            if (bitmaps is { } b) context.Out.WriteLine($"bitmaps size: {b}");
        }
        return ExitCodes.Success;
    }

    /// <summary>Bytes of the whole <paramref name="granule"/>-sized units that hold data anywhere in the chain, each counted once.</summary>
    private static long DataBytes(ImageChain chain, long granule)
    {
        long total = 0, countedTo = 0;
        for (long off = 0; off < chain.Size;)
        {
            var e = chain.Status(off, chain.Size - off);
            if (e.Kind == ExtentKind.Data)
            {
                long start = Math.Max(countedTo, off / granule * granule);
                long end = (off + e.Length + granule - 1) / granule * granule;
                if (end > start) total += end - start;
                countedTo = Math.Max(countedTo, end);
            }
            off += e.Length;
        }
        return total;
    }
}
