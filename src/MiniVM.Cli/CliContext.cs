using MiniVM.Block;
using Spectre.Console;

namespace MiniVM.Cli;

/// <summary>
/// What one invocation of the CLI writes to and opens images with. Tests pass their own writers;
/// <see cref="IsTerminal"/> is true only when stdout is the real, unredirected console.
/// </summary>
public sealed class CliContext
{
    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public ImageFormats Registry { get; }
    public bool IsTerminal { get; }

    /// <summary>Standard input, for interactive commands (`io` without -c).</summary>
    public TextReader In { get; init; } = TextReader.Null;

    public CliContext(TextWriter stdout, TextWriter stderr, ImageFormats registry, bool isTerminal)
    {
        Out = stdout;
        Err = stderr;
        Registry = registry;
        IsTerminal = isTerminal;
    }

    /// <summary>
    /// A Spectre console on <see cref="Out"/>: colours and rounded borders on a terminal, plain ASCII
    /// and a wide fixed width otherwise so that piped output stays one line per row.
    /// </summary>
    public IAnsiConsole CreateConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = IsTerminal ? InteractionSupport.Yes : InteractionSupport.No,
        });
        if (!IsTerminal)
        {
            console.Profile.Width = 200;
            console.Profile.Capabilities.Unicode = false;
        }
        return console;
    }

    /// <summary>A table styled for the output: bordered on a terminal, bare aligned columns when piped.</summary>
    public Table CreateTable(params string[] headers)
    {
        var table = new Table { Border = IsTerminal ? TableBorder.Rounded : TableBorder.None };
        foreach (var h in headers) table.AddColumn(new TableColumn(new Text(h)) { NoWrap = true });
        return table;
    }
}
