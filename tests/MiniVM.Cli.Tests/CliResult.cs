using MiniVM.Block;

namespace MiniVM.Cli.Tests;

/// <summary>What one in-process `minivm` run produced.</summary>
public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public static CliResult Run(params string[] args) => Run(ImageFormats.Default, args);

    public static CliResult Run(ImageFormats registry, params string[] args)
    {
        var o = new StringWriter { NewLine = "\n" };
        var e = new StringWriter { NewLine = "\n" };
        int code = MiniVmCli.Run(args, o, e, registry, isTerminal: false);
        return new CliResult(code, o.ToString(), e.ToString());
    }

    /// <summary>A run whose standard input is <paramref name="stdin"/> (interactive commands).</summary>
    public static CliResult RunWithInput(string stdin, params string[] args)
    {
        var o = new StringWriter { NewLine = "\n" };
        var e = new StringWriter { NewLine = "\n" };
        int code = MiniVmCli.Run(args, o, e, ImageFormats.Default, isTerminal: false, new StringReader(stdin));
        return new CliResult(code, o.ToString(), e.ToString());
    }

    /// <summary>The error contract: exactly one line on stderr, starting "minivm: ", and the expected exit code.</summary>
    public void AssertOneError(int exitCode, string containing)
    {
        Assert.Equal(exitCode, ExitCode);
        var line = Assert.Single(ErrLines);
        Assert.StartsWith("minivm: ", line);
        Assert.Contains(containing, line);
        Assert.DoesNotContain("   at ", Err);
    }

    public void AssertSuccess()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}: {Err}");
        Assert.Equal("", Err);
    }
}
