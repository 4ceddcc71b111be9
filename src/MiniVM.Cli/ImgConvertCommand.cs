using System.CommandLine;
using System.Globalization;
using MiniVM.Block;
using Spectre.Console;

namespace MiniVM.Cli;

/// <summary>`minivm img convert [-f FMT] -O FMT [-o ...] [-p] IN OUT`: copies the content of a whole chain into a new image.</summary>
internal static class ImgConvertCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format("format of IN (probed when omitted)");
        var outFormat = new Option<string>("-O", "--output-format") { Description = "format of OUT", HelpName = "FMT", DefaultValueFactory = _ => "raw" };
        var options = new Option<string?>("-o", "--options") { Description = "options for OUT, k=v[,k=v]", HelpName = "OPTIONS" };
        var progress = new Option<bool>("-p", "--progress") { Description = "show a progress bar" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var input = CliOptions.File("IN", "source image (its backing chain is read through)");
        var output = CliOptions.File("OUT", "image to create");
        var cmd = new Command("convert", "copy an image into a new image of any format") { format, outFormat, options, progress, unsafePaths, input, output };
        cmd.SetAction(parse => Run(context, parse.GetRequiredValue(input), parse.GetRequiredValue(output), parse.GetValue(format),
            parse.GetRequiredValue(outFormat), parse.GetValue(options), parse.GetValue(progress), parse.GetValue(unsafePaths)));
        return cmd;
    }

    private static int Run(CliContext context, string input, string output, string? format, string outFormatName,
        string? optionText, bool showProgress, bool allowUnsafe)
    {
        var outFormat = ImageAccess.Format(context, outFormatName);
        var options = ImageAccess.CreateOptions(outFormat, optionText);
        if (string.Equals(Path.GetFullPath(input), Path.GetFullPath(output), StringComparison.Ordinal))
            throw CommandFailure.Usage($"{output}: OUT is the same file as IN");
        using var source = ImageAccess.Open(context, input, format, readOnly: true, allowUnsafe);
        var chain = new ImageChain(source);
        using var target = ImageAccess.Create(context, outFormat, output, source.Size, options, allowUnsafe);
        var copy = new ImageCopy(chain);
        if (!showProgress) copy.CopyTo(target, null);
        else if (context.IsTerminal) CopyWithBar(context, copy, target, source.Size);
        else CopyWithLines(context, copy, target, source.Size);
        return ExitCodes.Success;
    }

    private static void CopyWithBar(CliContext context, ImageCopy copy, IBlockDriver target, long size)
    {
        context.CreateConsole().Progress()
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(p =>
            {
                var task = p.AddTask("convert", maxValue: Math.Max(1, size));
                copy.CopyTo(target, done => task.Value = done);
                task.Value = task.MaxValue;
            });
    }

    /// <summary>Not a terminal: one line per 10 % done, in qemu-img's "(NN.NN/100%)" form.</summary>
    private static void CopyWithLines(CliContext context, ImageCopy copy, IBlockDriver target, long size)
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
        copy.CopyTo(target, Report);
        Report(size);
    }
}
