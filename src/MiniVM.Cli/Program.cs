using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// The `minivm` executable. Tests call <see cref="Run(string[], TextWriter, TextWriter)"/> in-process;
/// every error ends as one line on stderr and an exit code from <see cref="ExitCodes"/>.
/// </summary>
public static class MiniVmCli
{
    public static int Main(string[] args) =>
        Run(args, Console.Out, Console.Error, ImageFormats.Default, isTerminal: !Console.IsOutputRedirected);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) =>
        Run(args, stdout, stderr, ImageFormats.Default, isTerminal: false);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, ImageFormats registry, bool isTerminal)
    {
        var context = new CliContext(stdout, stderr, registry, isTerminal);
        try
        {
            var root = CreateRoot(context);
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction)
            {
                var messages = new List<string>();
                foreach (var error in parse.Errors)
                    if (!messages.Contains(error.Message)) messages.Add(error.Message);
                stderr.WriteLine($"minivm: {OneLine(string.Join(" ", messages))} (see '{CommandPath(parse)} --help')");
                return ExitCodes.Usage;
            }
            return parse.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (Exception e)
        {
            return Report(e, stderr);
        }
        finally
        {
            stdout.Flush();
            stderr.Flush();
        }
    }

    /// <summary>The command tree; each command family adds itself with one line.</summary>
    public static RootCommand CreateRoot(CliContext context)
    {
        var root = new RootCommand("MiniVM: a small x86 PC emulator and its disk image tools");
        root.Add(ImgCommand.Create(context));
        root.Add(IoCommand.Create(context));
        root.Add(RunCommand.Create(context));
        return root;
    }

    /// <summary>Prints the one-line message for <paramref name="e"/> and returns the exit code of its class.</summary>
    public static int Report(Exception e, TextWriter stderr)
    {
        int code = ExitCodeOf(e);
        string message = code == ExitCodes.Internal ? $"internal error: {e.GetType().Name}: {e.Message}" : e.Message;
        stderr.WriteLine("minivm: " + OneLine(message));
        return code;
    }

    public static int ExitCodeOf(Exception e) => e switch
    {
        CommandFailure f => f.ExitCode,
        ImageFormatException => ExitCodes.ImageFormat,
        FileNotFoundException or DirectoryNotFoundException => ExitCodes.NoSuchFile,
        IOException or UnauthorizedAccessException => ExitCodes.IoError,
        _ => ExitCodes.Internal,
    };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    private static string CommandPath(ParseResult parse)
    {
        // Point at the deepest command the user reached, e.g. "minivm img create".
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent)
            names.Insert(0, c.Parent is null ? "minivm" : c.Command.Name);
        return string.Join(' ', names);
    }
}
