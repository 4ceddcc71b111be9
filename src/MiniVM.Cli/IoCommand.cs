using System.CommandLine;

namespace MiniVM.Cli;

/// <summary>`minivm io [-f FMT] [-r] -c CMD [-c CMD ...] FILE`: qemu-io style commands run in order on one open image.</summary>
public static class IoCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var commands = new Option<string[]>("-c", "--cmd")
        {
            Description = "command to run: read [-P BYTE] OFF LEN | write [-P BYTE] [-z] OFF LEN | discard OFF LEN | flush | map",
            HelpName = "CMD",
            Required = true,
            // One token per -c: "-c 'write 0 4k' FILE" must leave FILE to the argument.
            AllowMultipleArgumentsPerToken = false,
        };
        var readOnly = new Option<bool>("-r", "--read-only") { Description = "open the image read-only" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var file = CliOptions.File();
        var cmd = new Command("io", "run qemu-io style read/write/discard/flush/map commands on an image") { format, commands, readOnly, unsafePaths, share, file };
        cmd.SetAction(parse =>
        {
            string[] lines = parse.GetValue(commands) ?? [];
            if (lines.Length == 0) throw CommandFailure.Usage("give at least one -c CMD");
            // Parse every command before opening, so a typo in the third one does not leave the first two done.
            var script = new IoRequest[lines.Length];
            for (int i = 0; i < lines.Length; i++) script[i] = IoRequest.Parse(lines[i]);
            string f = parse.GetRequiredValue(file);
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), parse.GetValue(readOnly), parse.GetValue(unsafePaths), forceShare: parse.GetValue(share));
            var session = new IoSession(context, image);
            foreach (var request in script)
            {
                int code = session.Execute(request);
                if (code != ExitCodes.Success) return code;
            }
            if (!image.IsReadOnly) image.Flush();
            return ExitCodes.Success;
        });
        return cmd;
    }
}
