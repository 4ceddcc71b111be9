using System.CommandLine;
using System.Text;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img meta FILE [KEY[=VALUE]] [--delete KEY]`: the user key/value metadata of formats that store it
/// (qcow3.md §4.2, <see cref="IUserMetadata"/>). No KEY lists every pair, KEY prints one value (exit 1 when
/// absent), KEY=VALUE sets it, --delete removes it.
/// </summary>
internal static class ImgMetaCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var delete = new Option<string?>("--delete") { Description = "remove a key", HelpName = "KEY" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var pair = new Argument<string?>("KEY[=VALUE]")
        {
            Description = "key to print, or key=value to set",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var cmd = new Command("meta", "list, read, set or delete user metadata (qcow3)") { format, delete, unsafePaths, file, pair };
        cmd.SetAction(parse =>
        {
            string f = parse.GetRequiredValue(file);
            string? p = parse.GetValue(pair), d = parse.GetValue(delete);
            if (p is not null && d is not null) throw CommandFailure.Usage("give either KEY[=VALUE] or --delete KEY, not both");
            int eq = p?.IndexOf('=') ?? -1;
            bool write = d is not null || eq >= 0;
            string? key = d ?? (eq >= 0 ? p![..eq] : p);
            if (key is { Length: 0 }) throw CommandFailure.Usage("metadata key is empty");
            // Metadata lives in the top layer's header; the backing chain is not needed.
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: !write, parse.GetValue(unsafePaths), noBacking: true);
            if (image is not IUserMetadata meta)
                throw CommandFailure.Unsupported(f, $"format {image.FormatName} has no user metadata (qcow3 has)");
            if (d is not null)
            {
                if (!meta.RemoveUserMetadata(d)) throw new CommandFailure(ExitCodes.Failure, $"{f}: no metadata key '{d}'");
                image.Flush();
                return ExitCodes.Success;
            }
            if (eq >= 0)
            {
                meta.SetUserMetadata(key!, Encoding.UTF8.GetBytes(p![(eq + 1)..]));
                image.Flush();
                return ExitCodes.Success;
            }
            if (key is not null)
            {
                var value = meta.GetUserMetadata(key) ?? throw new CommandFailure(ExitCodes.Failure, $"{f}: no metadata key '{key}'");
                context.Out.WriteLine(Text(value));
                return ExitCodes.Success;
            }
            foreach (var (k, v) in meta.UserMetadata) context.Out.WriteLine($"{k}={Text(v)}");
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Values are any bytes (qcow3.md §4.2): UTF-8 text prints as is, anything else as 0x-prefixed hex.</summary>
    private static string Text(byte[] value)
    {
        try
        {
            string s = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(value);
            foreach (char c in s)
                if (char.IsControl(c)) return "0x" + Convert.ToHexStringLower(value);
            return s;
        }
        catch (DecoderFallbackException) { return "0x" + Convert.ToHexStringLower(value); }
    }
}
