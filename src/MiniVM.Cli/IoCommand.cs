using System.CommandLine;

namespace MiniVM.Cli;

/// <summary>
/// `minivm io [-f FMT] [-r] [-c CMD ...] FILE`: qemu-io style commands run in order on one open image; without -c,
/// read from standard input after a prompt, as qemu-io does.
/// </summary>
public static class IoCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var commands = new Option<string[]>("-c", "--cmd")
        {
            Description = "command to run: read [-P BYTE] [-v] OFF LEN | write [-P BYTE] [-z] OFF LEN | discard OFF LEN | flush | map | " +
                "alloc OFF [LEN] | length | info | aio_read | aio_write | aio_flush (without -c: read from standard input)",
            HelpName = "CMD",
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
            // Parse every command before opening, so a typo in the third one does not leave the first two done.
            var script = new IoRequest[lines.Length];
            for (int i = 0; i < lines.Length; i++) script[i] = IoRequest.Parse(lines[i]);
            string f = parse.GetRequiredValue(file);
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), parse.GetValue(readOnly), parse.GetValue(unsafePaths), forceShare: parse.GetValue(share));
            var session = new IoSession(context, image);
            if (lines.Length == 0) return Interactive(context, session, image);
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

    /// <summary>The prompt printed before each command read from standard input (qemu-io prints "qemu-io> ").</summary>
    public const string Prompt = "minivm-io> ";

    /// <summary>
    /// qemu-io's interactive loop: a prompt, one command a line, until quit or end of input. A bad command or a
    /// failed one prints its one error line and the loop goes on; the exit code is 1 when any command failed.
    /// </summary>
    private static int Interactive(CliContext context, IoSession session, Block.IBlockDriver image)
    {
        int result = ExitCodes.Success;
        while (true)
        {
            context.Out.Write(Prompt);
            context.Out.Flush();
            string? line = context.In.ReadLine();
            if (line is null) break;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var request = IoRequest.Parse(line);
                if (request.Operation == IoOperation.Quit) break;
                if (session.Execute(request) != ExitCodes.Success) result = ExitCodes.Failure;
            }
            catch (Exception e) when (e is CommandFailure or Block.ImageFormatException)
            {
                MiniVmCli.Report(e, context.Err);
                result = ExitCodes.Failure;
            }
        }
        if (!image.IsReadOnly) image.Flush();
        return result;
    }
}
