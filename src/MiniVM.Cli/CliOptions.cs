using System.CommandLine;

namespace MiniVM.Cli;

/// <summary>Options several commands share; each command gets its own instances.</summary>
internal static class CliOptions
{
    public static Option<string?> Format(string description = "image format (probed from the file when omitted)") =>
        new("-f", "--format") { Description = description, HelpName = "FMT" };

    public static Option<bool> AllowUnsafePaths() =>
        new("--allow-unsafe-paths")
        {
            Description = "accept file names stored in an image that are absolute or leave its directory",
        };

    public static Option<string> Output()
    {
        var o = new Option<string>("--output")
        {
            Description = "output format",
            HelpName = "human|json",
            DefaultValueFactory = _ => "human",
        };
        o.AcceptOnlyFromAmong("human", "json");
        return o;
    }

    public static Argument<string> File(string name = "FILE", string description = "image file") =>
        new(name) { Description = description };
}
