using System.CommandLine;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img compare [-f FMT] [-F FMT] [-s] A B`: exit 0 identical, 1 different, 2 error (qemu-img). -s (strict)
/// also fails on different sizes and on any offset where the two chains' allocation differs.
/// </summary>
internal static class ImgCompareCommand
{
    public static Command Create(CliContext context)
    {
        var formatA = CliOptions.Format("format of A (probed when omitted)");
        var formatB = new Option<string?>("-F", "--format-b") { Description = "format of B (probed when omitted)", HelpName = "FMT" };
        var strict = new Option<bool>("-s", "--strict") { Description = "different sizes or allocation (data, zero, unallocated) also count as different" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var a = CliOptions.File("A", "first image");
        var b = CliOptions.File("B", "second image");
        var cmd = new Command("compare", "check whether two images have the same content") { formatA, formatB, strict, unsafePaths, share, a, b };
        cmd.SetAction(parse =>
        {
            try
            {
                bool allowUnsafe = parse.GetValue(unsafePaths);
                using var imageA = ImageAccess.Open(context, parse.GetRequiredValue(a), parse.GetValue(formatA), readOnly: true, allowUnsafe, forceShare: parse.GetValue(share));
                using var imageB = ImageAccess.Open(context, parse.GetRequiredValue(b), parse.GetValue(formatB), readOnly: true, allowUnsafe, forceShare: parse.GetValue(share));
                if (parse.GetValue(strict) && imageA.Size != imageB.Size)
                {
                    context.Out.WriteLine($"Strict mode: Image size mismatch! ({imageA.Size} and {imageB.Size} bytes)");
                    return ExitCodes.Failure;
                }
                if (imageA.Size != imageB.Size) context.Out.WriteLine("Warning: Image size mismatch!");
                var comparison = new ImageComparison(new ImageChain(imageA), new ImageChain(imageB));
                if (parse.GetValue(strict) && comparison.FirstAllocationDifference() is var at and >= 0)
                {
                    context.Out.WriteLine($"Strict mode: Offset {at} block status mismatch!");
                    return ExitCodes.Failure;
                }
                long diff = comparison.FirstDifference();
                if (diff < 0)
                {
                    context.Out.WriteLine("Images are identical.");
                    return ExitCodes.Success;
                }
                context.Out.WriteLine($"Content mismatch at offset {diff}!");
                return ExitCodes.Failure;
            }
            catch (Exception e)
            {
                // qemu-img compare: 2 means the comparison could not be done.
                MiniVmCli.Report(e, context.Err);
                return ExitCodes.Corruption;
            }
        });
        return cmd;
    }
}
