using System.CommandLine;
using System.Globalization;
using MiniVM.Block;
using Spectre.Console;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img prefetch [-p] [--no-throttle] FILE`: copies what an overlay still reads from its base into the image
/// (FVD's whole-image prefetch, fvd.md §3.7), after which the base file is no longer needed. A running VM starts the
/// same work by itself after the image's prefetch_start_delay.
/// </summary>
internal static class ImgPrefetchCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var progress = new Option<bool>("-p", "--progress") { Description = "show a progress bar" };
        var noThrottle = new Option<bool>("--no-throttle")
        {
            Description = "copy flat out instead of pausing when the measured throughput drops under the image's minimum",
        };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("prefetch", "copy the base image's data into the image, so the base is no longer needed")
            { format, progress, noThrottle, unsafePaths, file };
        cmd.SetAction(parse =>
        {
            string f = parse.GetRequiredValue(file);
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: false, parse.GetValue(unsafePaths));
            if (image is not IBasePrefetch prefetch)
                throw CommandFailure.Unsupported(f, $"format {image.FormatName} has no prefetch (it does not copy its base in)");
            bool throttle = !parse.GetValue(noThrottle);
            if (!parse.GetValue(progress)) prefetch.Prefetch(null, throttle, CancellationToken.None);
            else if (context.IsTerminal) WithBar(context, prefetch, throttle);
            else WithLines(context, prefetch, throttle);
            context.Out.WriteLine("Image prefetched: all data is in the image, the base file is no longer read.");
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static void WithBar(CliContext context, IBasePrefetch prefetch, bool throttle)
    {
        context.CreateConsole().Progress()
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(p =>
            {
                var task = p.AddTask("prefetch", maxValue: 1);
                prefetch.Prefetch(s =>
                {
                    task.MaxValue = Math.Max(1, s.Total);
                    task.Value = s.Done;
                }, throttle, CancellationToken.None);
                task.Value = task.MaxValue;
            });
    }

    /// <summary>Not a terminal: one line per 10 % done, as convert -p prints them.</summary>
    private static void WithLines(CliContext context, IBasePrefetch prefetch, bool throttle)
    {
        int lastTenth = -1;
        prefetch.Prefetch(s =>
        {
            int tenth = s.Total == 0 ? 10 : (int)(s.Done * 10 / s.Total);
            if (tenth == lastTenth) return;
            lastTenth = tenth;
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    ({tenth * 10.0:0.00}/100%)"));
        }, throttle, CancellationToken.None);
    }
}
