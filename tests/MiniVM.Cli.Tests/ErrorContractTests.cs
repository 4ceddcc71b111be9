namespace MiniVM.Cli.Tests;

/// <summary>Bad input anywhere: one line on stderr, "minivm: ...", and the exit code of its class (docs/cli.md).</summary>
public sealed class ErrorContractTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Unknown_format_is_a_usage_error()
    {
        CliResult.Run("img", "create", "-f", "nosuch", _dir.File("x"), "1M").AssertOneError(ExitCodes.Usage, "unknown format 'nosuch'");
        Assert.False(File.Exists(_dir.File("x")));
    }

    [Theory]
    [InlineData("12Q", "unknown suffix")]
    [InlineData("1.5M", "not a number")]
    [InlineData("99999999999T", "too large")]
    public void Bad_size_is_a_usage_error(string size, string message)
    {
        CliResult.Run("img", "create", "-f", "raw", _dir.File("x"), size).AssertOneError(ExitCodes.Usage, message);
        Assert.False(File.Exists(_dir.File("x")));
    }

    [Fact]
    public void Unknown_create_option_names_the_key()
    {
        CliResult.Run("img", "create", "-f", "raw", "-o", "cluster_size=64k", _dir.File("x"), "1M")
            .AssertOneError(ExitCodes.Usage, "cluster_size");
    }

    [Fact]
    public void Missing_size_without_backing_is_a_usage_error()
    {
        CliResult.Run("img", "create", "-f", "raw", _dir.File("x")).AssertOneError(ExitCodes.Usage, "SIZE is required");
    }

    [Theory]
    [InlineData("info")]
    [InlineData("map")]
    [InlineData("snapshot", "-l")]
    public void Missing_file_is_exit_66(params string[] command)
    {
        string f = _dir.File("missing.img");
        CliResult.Run([.. new[] { "img" }, .. command, f]).AssertOneError(ExitCodes.NoSuchFile, $"{f}: no such file");
    }

    [Fact]
    public void Missing_file_for_io_is_exit_66()
    {
        string f = _dir.File("missing.img");
        CliResult.Run("io", "-c", "read 0 1", f).AssertOneError(ExitCodes.NoSuchFile, "no such file");
    }

    [Fact]
    public void Check_that_cannot_run_exits_1()
    {
        CliResult.Run("img", "check", _dir.File("missing.img")).AssertOneError(ExitCodes.Failure, "no such file");
    }

    [Fact]
    public void Check_on_a_format_without_checks_exits_63()
    {
        string f = _dir.File("a.raw");
        CliResult.Run("img", "create", "-f", "raw", f, "1M").AssertSuccess();
        CliResult.Run("img", "check", f).AssertOneError(ExitCodes.CheckUnsupported, "does not support checks");
    }

    [Fact]
    public void Snapshot_on_a_format_without_snapshots_exits_69()
    {
        string f = _dir.File("a.raw");
        CliResult.Run("img", "create", "-f", "raw", f, "1M").AssertSuccess();
        CliResult.Run("img", "snapshot", "-c", "s1", f).AssertOneError(ExitCodes.Unsupported, "does not support internal snapshots");
    }

    [Fact]
    public void Snapshot_takes_at_most_one_action()
    {
        string f = _dir.File("a.raw");
        CliResult.Run("img", "create", "-f", "raw", f, "1M").AssertSuccess();
        CliResult.Run("img", "snapshot", "-l", "-c", "x", f).AssertOneError(ExitCodes.Usage, "at most one");
        // No action lists; raw has no snapshots to list.
        CliResult.Run("img", "snapshot", f).AssertOneError(ExitCodes.Unsupported, "does not support internal snapshots");
    }

    [Theory]
    [InlineData("img", "frobnicate")]
    [InlineData("img")]
    [InlineData("img", "info")]
    [InlineData("img", "info", "--output", "xml", "x")]
    [InlineData("img", "create", "x", "1M")]
    public void Command_line_mistakes_are_exit_64_in_one_line(params string[] args)
    {
        var r = CliResult.Run(args);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        var line = Assert.Single(r.ErrLines);
        Assert.StartsWith("minivm: ", line);
        Assert.Contains("--help", line);
    }

    [Fact]
    public void Directory_instead_of_image_is_exit_66()
    {
        CliResult.Run("img", "info", _dir.Path).AssertOneError(ExitCodes.NoSuchFile, "is a directory");
    }

    [Theory]
    [InlineData("img", "--help")]
    [InlineData("img", "create", "--help")]
    [InlineData("img", "bench", "--help")]
    [InlineData("io", "--help")]
    public void Help_is_available_everywhere(params string[] args)
    {
        var r = CliResult.Run(args);
        r.AssertSuccess();
        Assert.Contains("Usage:", r.Out);
    }

    [Fact]
    public void Create_option_help_lists_nothing_for_raw()
    {
        var r = CliResult.Run("img", "create", "-f", "raw", "-o", "help", _dir.File("x"), "1M");
        r.AssertSuccess();
        Assert.Equal("Supported options for raw:", r.OutLines[0]);
        Assert.False(File.Exists(_dir.File("x")));
    }
}
