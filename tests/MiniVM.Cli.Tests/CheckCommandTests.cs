using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>`img check` exit codes and repair flow, as qemu-img: 0 clean, 2 corruption, 3 leaks only, 1 could not run.</summary>
public sealed class CheckCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly MiniVM.Block.ImageFormats _registry = LedgerFormat.Registry();

    public void Dispose() => _dir.Dispose();

    private string Image(int corruptions, int leaks, int version = 1)
    {
        string f = _dir.File("img.ledger");
        LedgerFormat.Write(f, 1 << 20, corruptions, leaks, version);
        return f;
    }

    [Fact]
    public void Clean_image_exits_0()
    {
        var r = CliResult.Run(_registry, "img", "check", Image(0, 0));
        r.AssertSuccess();
        Assert.Contains("No errors were found on the image.", r.OutLines);
        Assert.Contains("3/12 = 25.00% allocated, 0.00% fragmented, 0.00% compressed clusters", r.OutLines);
    }

    [Fact]
    public void Corruption_exits_2_even_with_leaks()
    {
        var r = CliResult.Run(_registry, "img", "check", Image(2, 5));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("2 errors were found on the image.", r.OutLines);
        Assert.Contains("5 leaked clusters were found on the image.", r.OutLines);
    }

    [Fact]
    public void Leaks_only_exit_3()
    {
        var r = CliResult.Run(_registry, "img", "check", Image(0, 4));
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("This means waste of disk space, but no harm to data.", r.OutLines);
    }

    [Fact]
    public void Repairing_leaks_rechecks_and_exits_0()
    {
        string f = Image(0, 4);
        var r = CliResult.Run(_registry, "img", "check", "-r", "leaks", f);
        r.AssertSuccess();
        Assert.Contains("Double checking the fixed image now...", r.OutLines);
        Assert.Contains("4 leaked clusters", r.OutLines);
        CliResult.Run(_registry, "img", "check", f).AssertSuccess();
    }

    [Fact]
    public void Repairing_leaks_leaves_corruption_and_exits_2()
    {
        var r = CliResult.Run(_registry, "img", "check", "-r", "leaks", Image(1, 4));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("1 errors were found on the image.", r.OutLines);
    }

    [Fact]
    public void Json_output_counts()
    {
        var r = CliResult.Run(_registry, "img", "check", "--output", "json", Image(0, 2));
        Assert.Equal(3, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Out);
        // qemu-img's ImageCheck: a zero count is left out, check-errors is a number.
        Assert.False(doc.RootElement.TryGetProperty("corruptions", out _));
        Assert.Equal(0, doc.RootElement.GetProperty("check-errors").GetInt32());
        Assert.Equal(2, doc.RootElement.GetProperty("leaks").GetInt32());
        Assert.Equal("ledger", doc.RootElement.GetProperty("format").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public void Unreadable_header_exits_1_with_the_field_named()
    {
        CliResult.Run(_registry, "img", "check", Image(0, 0, version: 7)).AssertOneError(1, "field version = 7");
    }

    [Fact]
    public void Corrupt_header_elsewhere_is_exit_65()
    {
        string f = Image(0, 0, version: 7);
        CliResult.Run(_registry, "img", "info", f).AssertOneError(ExitCodes.ImageFormat, $"{f}: field version = 7");
        CliResult.Run(_registry, "io", "-c", "read 0 1", f).AssertOneError(ExitCodes.ImageFormat, "field version = 7");
        CliResult.Run(_registry, "img", "compare", f, f).AssertOneError(2, "field version = 7");
    }
}
