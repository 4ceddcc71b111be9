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
        Run(args, Console.Out, Console.Error, ImageFormats.Default, isTerminal: !Console.IsOutputRedirected, Console.In);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) =>
        Run(args, stdout, stderr, ImageFormats.Default, isTerminal: false);

    /// <param name="stdin">What interactive commands (`io` without -c) read; none: they read nothing.</param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, ImageFormats registry, bool isTerminal, TextReader? stdin = null)
    {
        var context = new CliContext(stdout, stderr, registry, isTerminal) { In = stdin ?? TextReader.Null };
        try
        {
            var root = CreateRoot(context);
            var parse = root.Parse(args, Parsing);
            if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction)
            {
                // An unknown option is the culprit even when the parser first complains about what follows it
                // (`img info --foo q.qcow2` would otherwise blame q.qcow2).
                string message = UnknownOption(parse) ?? string.Join(" ", parse.Errors.Select(e => e.Message).Distinct());
                stderr.WriteLine($"minivm: {OneLine(message)} (see '{CommandPath(parse)} --help')");
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

    /// <summary>
    /// No POSIX bundling: QEMU's spelling `-hda` would otherwise be read as -h -d -a and print the help. No response
    /// files: an argument starting with @ is a file name, never a file whose content becomes more arguments.
    /// </summary>
    private static readonly ParserConfiguration Parsing = new() { EnablePosixBundling = false, ResponseFileTokenReplacer = null };

    /// <summary>"unknown option '-hda' (did you mean '--hda'?)" for the first word that looks like an option but is none.</summary>
    private static string? UnknownOption(ParseResult parse)
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent)
            foreach (var o in c.Command.Options)
            {
                known.Add(o.Name);
                foreach (var alias in o.Aliases) known.Add(alias);
            }
        foreach (var token in parse.Tokens)
        {
            if (token.Type != TokenType.Argument || !CliOptions.LooksLikeOption(token.Value) || known.Contains(token.Value)) continue;
            string guess = "--" + token.Value.TrimStart('-');
            return known.Contains(guess) ? $"unknown option '{token.Value}' (did you mean '{guess}'?)" : $"unknown option '{token.Value}'";
        }
        return null;
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
        ImageLockedException => ExitCodes.Locked,
        ImageIOException => ExitCodes.IoError,
        ImageUnsupportedException => ExitCodes.Unsupported,
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
