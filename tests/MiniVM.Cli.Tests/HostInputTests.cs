using System.Diagnostics;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Host files that are not regular files where one is needed: a FIFO (whose open blocks until a writer comes)
/// and /dev/zero (endless). Each run is a child process under a 3 GiB address-space limit and a time limit, and
/// must end at once with one line naming the file and a documented exit code.
/// </summary>
public sealed class HostInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fifo()
    {
        string path = _dir.File("fifo");
        using var p = Process.Start("mkfifo", [path]);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return path;
    }

    private CliResult Run(params string[] args) => MiniVmChild.Run(_dir.Path, args);

    [Fact]
    public void Img_info_on_a_fifo_is_refused_without_opening_it()
    {
        Run("img", "info", Fifo()).AssertOneError(ExitCodes.NoSuchFile, "fifo: is a FIFO, not a regular file");
    }

    [Fact]
    public void An_irow_whose_bitmap_file_is_a_fifo_is_refused_without_opening_it()
    {
        // The image names its own data files: a hostile (or damaged) one can lead the open to a FIFO.
        string image = _dir.File("fifo.irow");
        Run("img", "create", "-f", "irow", image, "1M");
        string btmp = Directory.GetFiles(_dir.Path, "fifo.irow-*.btmp").Single();
        File.Delete(btmp);
        using (var p = Process.Start("mkfifo", [btmp])) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); }
        Run("img", "info", image).AssertOneError(ExitCodes.ImageFormat, "is a FIFO, not a regular file; image files must be regular files");
    }

    [Fact]
    public void A_drive_on_a_fifo_is_refused()
    {
        Run("run", "--hda", Fifo(), "--serial", "none").AssertOneError(ExitCodes.NoSuchFile, "is a FIFO, not a regular file");
    }

    [Theory]
    [InlineData("if=ide,file=/dev/zero,format=raw")]
    [InlineData("if=floppy,file=/dev/zero")]
    public void A_drive_on_dev_zero_is_refused(string drive)
    {
        Run("run", "--drive", drive, "--serial", "none").AssertOneError(ExitCodes.NoSuchFile, "'/dev/zero' is a character device, not a regular file");
    }

    [Theory]
    [InlineData("firmware.bios")]
    [InlineData("firmware.vgabios")]
    public void Firmware_on_dev_zero_is_refused_unread(string key)
    {
        Run("run", "--set", $"{key}=/dev/zero", "--serial", "none").AssertOneError(78, $"{key} '/dev/zero' is a character device");
    }

    [Fact]
    public void Firmware_larger_than_a_bios_is_refused_unread()
    {
        string huge = _dir.File("huge.bin");
        using (var f = File.Create(huge)) f.SetLength(8L << 30); // sparse: 8 GiB apparent, nothing allocated
        Run("run", "--set", $"firmware.bios={huge}", "--serial", "none").AssertOneError(78, "firmware.bios '" + huge + "' is larger than 1 MiB");
    }

    [Fact]
    public void Monitor_script_on_dev_zero_is_refused()
    {
        Run("run", "--monitor-script", "/dev/zero", "--serial", "none", "--set", $"firmware.bios={MiniVmChild.Bios}")
            .AssertOneError(ExitCodes.Usage, "--monitor-script '/dev/zero' is a character device");
    }

    [Fact]
    public void Endless_stdin_on_the_serial_console_waits_for_the_guest_instead_of_filling_memory()
    {
        var r = MiniVmChild.Run(_dir.Path, TimeSpan.FromSeconds(180), "/dev/zero", MiniVmChild.SmallHeap,
            "run", "--serial", "stdio", "--memory", "16", "--timeout", "10", "--drive", MiniVmChild.IdleGuestDrive);
        Assert.True(r.ExitCode == 3, $"exit {r.ExitCode}: {r.Err}");
        Assert.StartsWith("minivm: timeout after 10 s", r.Err);
    }

    [Fact]
    public void Configuration_file_on_dev_zero_or_a_fifo_is_refused()
    {
        Run("run", "--config", "/dev/zero").AssertOneError(78, "'/dev/zero' is a character device");
        Run("run", "--config", Fifo()).AssertOneError(78, "is a FIFO");
    }
}
