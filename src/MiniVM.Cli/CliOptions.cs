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

    /// <summary>qemu-img's -U: open read-only without the lock that refuses images in use by a writer (ImageLock).</summary>
    public static Option<bool> ForceShare() =>
        new("-U", "--force-share")
        {
            Description = "open the image read-only even while another process writes to it (data may be inconsistent)",
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

    public static Argument<string> File(string name = "FILE", string description = "image file")
    {
        var argument = new Argument<string>(name) { Description = description };
        argument.Validators.Add(result =>
        {
            string? value = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
            if (value is null) return;
            if (value.Length == 0) result.AddError($"{name} is an empty file name");
            else if (LooksLikeOption(value)) result.AddError($"unknown option '{value}'");
        });
        return argument;
    }

    /// <summary>
    /// A word that was meant as an option ("--foo", "-hda"), not a file name or a negative size ("-512M"):
    /// a file really called so is reachable as ./--foo.
    /// </summary>
    public static bool LooksLikeOption(string word) =>
        word.Length > 1 && word[0] == '-' && (char.IsAsciiLetter(word[1]) || (word[1] == '-' && word.Length > 2));
}
