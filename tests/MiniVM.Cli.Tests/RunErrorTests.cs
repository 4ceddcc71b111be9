namespace MiniVM.Cli.Tests;

/// <summary>
/// `minivm run` and `img` mistakes that once crashed, hung or blamed the wrong word: each is one line on stderr
/// naming the culprit and an exit code docs/cli.md lists. These fail before a guest runs, so they run in-process.
/// </summary>
public sealed class RunErrorTests : IDisposable
{
    private const int ConfigError = 78;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Json(string name, string text)
    {
        string f = _dir.File(name);
        File.WriteAllText(f, text);
        return f;
    }

    [Fact]
    public void Unknown_option_before_the_file_is_named_not_the_file()
    {
        string q = _dir.File("q.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", q, "1M").AssertSuccess();
        var r = CliResult.Run("img", "info", "--foo", q);
        r.AssertOneError(ExitCodes.Usage, "unknown option '--foo'");
        Assert.DoesNotContain("q.qcow2", r.Err);
    }

    [Fact]
    public void Qemu_spelling_of_a_disk_option_is_an_error_with_a_hint_not_the_help()
    {
        var r = CliResult.Run("run", "-hda", "x");
        r.AssertOneError(ExitCodes.Usage, "unknown option '-hda' (did you mean '--hda'?)");
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void Timeout_that_is_not_a_number_says_so()
    {
        var r = CliResult.Run("run", "--timeout", "abc");
        r.AssertOneError(ExitCodes.Usage, "--timeout 'abc' is not a number of seconds");
        Assert.DoesNotContain("Nullable", r.Err);
    }

    [Fact]
    public void Empty_file_name_is_a_usage_error()
    {
        CliResult.Run("img", "info", "").AssertOneError(ExitCodes.Usage, "FILE is an empty file name");
    }

    [Fact]
    public void Missing_drive_image_is_exit_66_as_for_img()
    {
        CliResult.Run("run", "--hda", _dir.File("nothere.irow"), "--serial", "none")
            .AssertOneError(ExitCodes.NoSuchFile, "nothere.irow' not found");
    }

    [Fact]
    public void Loadvm_of_a_missing_snapshot_is_exit_1()
    {
        string disk = _dir.File("d.irow");
        CliResult.Run("img", "create", "-f", "irow", disk, "8M").AssertSuccess();
        CliResult.Run("run", "--hda", disk, "--serial", "none", "--loadvm", "nope")
            .AssertOneError(ExitCodes.Failure, "has no snapshot 'nope'");
    }

    [Fact]
    public void Invalid_vm_json_names_line_and_column()
    {
        string f = Json("vm.json", "{ \"machine\": { \"memory\": 64 }\n  \"boot\": \"c\" }");
        CliResult.Run("run", "--config", f).AssertOneError(ConfigError, "vm.json: line 2, column 3:");
    }

    [Theory]
    [InlineData("2048")]
    [InlineData("3072")]
    [InlineData("0")]
    public void Memory_outside_what_the_machine_maps_is_refused(string mib)
    {
        CliResult.Run("run", "--memory", mib, "--serial", "none").AssertOneError(ConfigError, $"machine.memory = {mib}: must be 1..2047 (MiB)");
    }

    [Theory]
    [InlineData("""{ "drives": [ { "interface": null, "file": "x.img" } ] }""", "drives.0.interface is null")]
    [InlineData("""{ "boot": null }""", "boot is null")]
    [InlineData("""{ "machine": { "memory": null } }""", "machine.memory is null")]
    [InlineData("""{ "drives": { "x": 1 } }""", "drives.x: drives is a list")]
    [InlineData("""{ "drives": [ 5 ] }""", "drives.0 = '5': drives.0 is a section")]
    [InlineData("""{ "machine": { "memory": { "a": 1 } } }""", "machine.memory is a single value, not a section")]
    [InlineData("""{ "machine": { "ram": 5 } }""", "unknown key machine.ram")]
    [InlineData("""{ "boot": "acdnac" }""", "boot = 'acdnac': at most 3 devices")]
    [InlineData("""{ "boot": "cc" }""", "boot = 'cc': at most 3 devices, each named once")]
    public void Wrong_configuration_names_the_key(string json, string expected)
    {
        CliResult.Run("run", "--config", Json("vm.json", json), "--serial", "none").AssertOneError(ConfigError, expected);
    }

    [Fact]
    public void A_value_for_a_section_is_not_silently_dropped()
    {
        // With a machine section in the file, the binder would keep the section and ignore the value.
        string f = Json("vm.json", """{ "machine": { "memory": 64 } }""");
        CliResult.Run("run", "--config", f, "--set", "machine=3").AssertOneError(ConfigError, "machine = '3': machine is a section");
    }

    [Fact]
    public void One_image_behind_two_writable_drives_is_refused()
    {
        string disk = _dir.File("d.irow");
        CliResult.Run("img", "create", "-f", "irow", disk, "8M").AssertSuccess();
        CliResult.Run("run", "--hda", disk, "--hdb", disk, "--serial", "none")
            .AssertOneError(ConfigError, "drives.1.file = '" + disk + "': the same image as drives.0.file");
        var link = _dir.File("link.irow");
        File.CreateSymbolicLink(link, disk);
        CliResult.Run("run", "--hda", disk, "--drive", $"if=virtio,file={link}", "--serial", "none")
            .AssertOneError(ConfigError, "the same image as drives.0.file");
    }

    [Fact]
    public void A_floppy_drive_with_a_disk_sized_image_is_a_configuration_error()
    {
        string big = _dir.File("big.img");
        using (var f = File.Create(big)) f.SetLength(32 << 20);
        CliResult.Run("run", "--fda", big, "--serial", "none").AssertOneError(ConfigError, "size 33554432 bytes is not a floppy format");
    }
}
