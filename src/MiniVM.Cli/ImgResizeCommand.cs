using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img resize [--shrink] FILE [+|-]SIZE`, like qemu-img resize: an absolute size or a change relative to
/// the current one; making the disk smaller drops data, so it needs --shrink. The backing chain is opened, as qemu-img
/// does, because a grown part that a longer backing file would show is written as zeroes (<see cref="ImageGrowth"/>).
/// </summary>
internal static class ImgResizeCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var shrink = new Option<bool>("--shrink") { Description = "allow making the disk smaller (data past the new end is lost)" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var size = new Argument<string>("SIZE") { Description = "new size, or +N / -N relative to the current size (K/M/G/T suffixes)" };
        var cmd = new Command("resize", "change the virtual size of an image") { format, shrink, unsafePaths, file, size };
        cmd.SetAction(parse =>
        {
            string f = parse.GetRequiredValue(file);
            string text = parse.GetRequiredValue(size).Trim();
            int sign = text.StartsWith('+') ? 1 : text.StartsWith('-') ? -1 : 0;
            long amount = CliNumbers.Size(sign == 0 ? text : text[1..], "size");
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: false, parse.GetValue(unsafePaths));
            if (image is not IResizable)
                throw CommandFailure.Unsupported(f, $"format {image.FormatName} cannot be resized");
            long target;
            try { target = sign == 0 ? amount : checked(image.Size + sign * amount); }
            catch (OverflowException) { throw CommandFailure.Usage($"size '{text}' is too large"); }
            if (target < 0) throw CommandFailure.Usage($"new size {target} would be negative (current size {image.Size})");
            if (target < image.Size && !parse.GetValue(shrink))
                throw CommandFailure.Usage($"{f}: shrinking from {image.Size} to {target} bytes drops data; use the --shrink option to perform a shrink operation");
            ImageGrowth.Resize(image, f, target);
            image.Flush();
            context.Out.WriteLine("Image resized.");
            return ExitCodes.Success;
        });
        return cmd;
    }
}
