namespace MiniVM.Cli.Tests;

/// <summary>
/// `minivm io` without -c reads commands after a prompt, as qemu-io does; alloc, length, info, the aio_ forms and
/// read -v print what qemu-io prints for the same commands on the same image (timing lines aside).
/// </summary>
public sealed class IoInteractiveTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string Script =
        "write -P 0x41 0 4k\nalloc 0 64k\nalloc 0\nalloc 64k 128k\nlength\ninfo\nread -v 0 40\nread -v 4090 20\n" +
        "aio_write -P 0x42 8k 4k\naio_flush\naio_read -P 0x42 8k 4k\naio_flush\n";

    /// <summary>The output without timing lines, and with each tool's prompt taken out.</summary>
    private static string[] Comparable(string output, string prompt) =>
        output.Replace(prompt, "\n").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.Contains(" ops; ", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void Interactive_session_prints_what_qemu_io_prints()
    {
        string ours = _dir.File("ours.qcow2"), theirs = _dir.File("theirs.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", ours, "1M");
        QemuImg.Img("create", "-q", "-f", "qcow2", theirs, "1M");
        var r = CliResult.RunWithInput(Script + "quit\n", "io", ours);
        r.AssertSuccess();
        Assert.StartsWith(IoCommand.Prompt, r.Out);
        var q = RunQemuIo(theirs, Script + "quit\n");
        var expected = Comparable(q, "qemu-io> ").Where(l => !l.StartsWith("vm state offset", StringComparison.Ordinal)).ToArray();
        Assert.Equal(expected, Comparable(r.Out, IoCommand.Prompt));
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", ours, theirs).ExitCode);
    }

    [Fact]
    public void A_failed_command_reports_and_the_session_goes_on_to_exit_1()
    {
        string f = _dir.File("a.raw");
        File.WriteAllBytes(f, new byte[65536]);
        var r = CliResult.RunWithInput("bogus\nread -P 1 0 4k\nwrite -P 2 0 512\n", "io", "-f", "raw", f);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(2, r.ErrLines.Length);
        Assert.Contains("unknown io command 'bogus'", r.ErrLines[0]);
        Assert.Contains("pattern verification failed at offset 0", r.ErrLines[1]);
        Assert.Contains("wrote 512/512 bytes at offset 0\n", r.Out); // after the prompts, on their line as in qemu-io
        Assert.Equal(2, File.ReadAllBytes(f)[511]);
        // End of input ends the session like quit: the prompt was printed once more for it.
        Assert.EndsWith(IoCommand.Prompt, r.Out);
    }

    [Fact]
    public void Info_length_and_alloc_on_raw_print_what_qemu_io_prints()
    {
        string f = _dir.File("r.raw");
        File.WriteAllBytes(f, new byte[1 << 20]);
        string[] args = ["-f", "raw", "-c", "info", "-c", "length", "-c", "alloc 0 64k", f];
        var ours = CliResult.Run(["io", .. args]);
        ours.AssertSuccess();
        var expected = QemuImg.Run("qemu-io", args).Out.Split('\n').Where(l => !l.StartsWith("vm state offset", StringComparison.Ordinal));
        Assert.Equal(expected, ours.Out.Split('\n'));
    }

    [Fact]
    public void Read_v_dumps_like_qemu_io_in_c_mode_too()
    {
        string f = _dir.File("d.raw");
        var bytes = new byte[4096];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 7);
        File.WriteAllBytes(f, bytes);
        string[] args = ["-f", "raw", "-c", "read -v 100 77", f];
        var ours = CliResult.Run(["io", .. args]);
        ours.AssertSuccess();
        Assert.Equal(Comparable(QemuImg.Run("qemu-io", args).Out, "qemu-io> "), Comparable(ours.Out, IoCommand.Prompt));
    }

    private static string RunQemuIo(string file, string input)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("qemu-io")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(file);
        using var p = System.Diagnostics.Process.Start(psi)!;
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000));
        return output;
    }
}
