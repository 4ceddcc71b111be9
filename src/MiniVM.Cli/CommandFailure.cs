namespace MiniVM.Cli;

/// <summary>
/// An error the CLI itself detects, carrying the exit code of its class (<see cref="ExitCodes"/>).
/// The message is the one line printed after "minivm: ".
/// </summary>
public sealed class CommandFailure : Exception
{
    public int ExitCode { get; }

    public CommandFailure(int exitCode, string message) : base(message) => ExitCode = exitCode;

    public static CommandFailure Usage(string message) => new(ExitCodes.Usage, message);

    public static CommandFailure Unsupported(string fileName, string message) => new(ExitCodes.Unsupported, $"{fileName}: {message}");
}
