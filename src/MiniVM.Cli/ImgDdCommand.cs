using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img dd [-f FMT] [-O FMT] [bs=N] [count=N] [skip=N] if=IN of=OUT`, like qemu-img dd: OUT is created with
/// the bytes of IN from skip×bs on. Its size is qemu-img's: min(IN's size, count×bs) less skip×bs. Blocks that read as
/// zeroes are left as holes (qemu-img writes them), so OUT is sparse but reads the same.
/// </summary>
internal static class ImgDdCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format("format of IN (probed when omitted)");
        var outFormat = new Option<string>("-O", "--output-format") { Description = "format of OUT", HelpName = "FMT", DefaultValueFactory = _ => "raw" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var operands = new Argument<string[]>("OPERANDS") { Description = "if=IN of=OUT [bs=N (512)] [count=N] [skip=N]", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("dd", "copy part of an image into a new image, dd style") { format, outFormat, unsafePaths, operands };
        cmd.SetAction(parse => Run(context, parse.GetValue(operands) ?? [], parse.GetValue(format), parse.GetRequiredValue(outFormat), parse.GetValue(unsafePaths)));
        return cmd;
    }

    private static int Run(CliContext context, string[] operands, string? format, string outFormatName, bool allowUnsafe)
    {
        string? input = null, output = null;
        long bs = 512, count = -1, skip = 0;
        foreach (var op in operands)
        {
            int eq = op.IndexOf('=');
            if (eq <= 0) throw CommandFailure.Usage($"operand '{op}' is not key=value");
            string key = op[..eq], value = op[(eq + 1)..];
            switch (key)
            {
                case "if": input = value; break;
                case "of": output = value; break;
                case "bs":
                    bs = CliNumbers.Size(value, "bs");
                    if (bs <= 0 || bs > ImageCopy.MaxSparseSize) throw CommandFailure.Usage($"bs '{value}' must be between 1 and {ImageCopy.MaxSparseSize}");
                    break;
                case "count": count = CliNumbers.Size(value, "count"); break;
                case "skip": skip = CliNumbers.Size(value, "skip"); break;
                default: throw CommandFailure.Usage($"unknown operand '{key}' (if, of, bs, count, skip)");
            }
        }
        if (input is null || output is null) throw CommandFailure.Usage("dd needs if=IN and of=OUT");
        if (input.Length == 0 || output.Length == 0) throw CommandFailure.Usage("if= and of= need file names");
        var outFormat = ImageAccess.Format(context, outFormatName);
        using var source = ImageAccess.Open(context, input, format, readOnly: true, allowUnsafe);
        long size = source.Size;
        if (count >= 0 && count <= long.MaxValue / bs && count * bs < size) size = count * bs;
        if (skip > long.MaxValue / bs || skip * bs > size)
            throw new ImageFormatException(input, $"cannot skip {skip} blocks of {bs} bytes: past the end of the copied range");
        long start = skip * bs;
        size -= start;
        using var target = ImageAccess.Create(context, outFormat, output, size, new ImageCreateOptions(), allowUnsafe);
        byte[] buffer = new byte[bs];
        for (long pos = 0; pos < size; pos += bs)
        {
            int n = (int)Math.Min(bs, size - pos);
            // Past IN's end (skip beyond a short count) the copy reads zeroes.
            int avail = (int)Math.Clamp(source.Size - (start + pos), 0, n);
            buffer.AsSpan(0, n).Clear();
            if (avail > 0) source.Read(start + pos, buffer.AsSpan(0, avail));
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0)) target.Write(pos, buffer.AsSpan(0, n));
        }
        target.Flush();
        return ExitCodes.Success;
    }
}
