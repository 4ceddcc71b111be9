using System.Globalization;
using MiniVM.Block;

namespace MiniVM.Cli.Tests;

/// <summary>
/// A failing host disk, for every format: strace injects EIO into the reads and writes of the one file that holds the
/// image's data (<c>-P FILE -e inject=…:error=EIO</c>, so the program, its other files and the runtime are untouched),
/// and `minivm io` must end with one line naming the image and the failed operation, and the I/O exit code 74
/// (docs/cli.md), whichever format's driver met the error (the request contract turns it into that line once).
/// </summary>
public class HostIoErrorTests
{
    public static TheoryData<string> Formats => new() { "raw", "qcow2", "irow", "add-cow", "fvd" };

    private const string Eio = "Input/output error";

    [Theory, MemberData(nameof(Formats))]
    public void A_failing_read_or_write_of_the_data_file_is_one_line_and_exit_74(string format)
    {
        using var dir = new TempDirectory();
        string image = dir.File("disk." + format);
        var options = new ImageCreateOptions();
        if (format == "add-cow")
        {
            ImageFormats.Default.Create("raw", dir.File("base.raw"), 1 << 20, new ImageCreateOptions()).Dispose();
            (options.BackingFile, options.BackingFormat) = ("base.raw", "raw");
        }
        if (format == "fvd") options.Values["data_file"] = "disk.data";
        string dataFile;
        using (var d = ImageFormats.Default.Create(format, image, 1 << 20, options))
        {
            d.Write(0, Enumerable.Repeat((byte)0x5A, 65536).ToArray());
            // The block layer says which host file holds the data (iROW: the current irvd, add-cow: its raw file).
            dataFile = d.GetBlockStatus(0, 65536).File!;
        }

        // Reads: the request's is the last read of the data file (qcow2 reads its header and tables from it first).
        string[] read = ["io", "-f", format, "-c", "read -P 0x5a 0 64k", image];
        string log = dir.File("reads.log");
        var counted = SyscallKill.Strace(dir.Path, ["-f", "-o", log, "-P", dataFile, "-e", "trace=pread64"], read);
        Assert.True(counted.ExitCode == 0, counted.Err);
        int reads = File.ReadLines(log).Count(l => l.Contains("pread64(", StringComparison.Ordinal));
        Assert.True(reads > 0, $"no read of {dataFile} was traced");
        var failed = SyscallKill.Strace(dir.Path,
            ["-f", "-o", "/dev/null", "-P", dataFile, "-e", "trace=pread64", "-e", $"inject=pread64:error=EIO:when={reads.ToString(CultureInfo.InvariantCulture)}"], read);
        failed.AssertOneError(ExitCodes.IoError, $"{image}: read failed: {Eio}");

        // Writes: the request's data write is the first write of the data file.
        string[] write = ["io", "-f", format, "-c", "write -P 0x11 0 64k", image];
        failed = SyscallKill.Strace(dir.Path,
            ["-f", "-o", "/dev/null", "-P", dataFile, "-e", "trace=pwrite64", "-e", "inject=pwrite64:error=EIO:when=1"], write);
        failed.AssertOneError(ExitCodes.IoError, $"write failed: {Eio}");

        // Nothing the failed write touched is lost: the data written before still reads back.
        CliResult.Run("io", "-f", format, "-c", "read -P 0x5a 0 64k", image).AssertSuccess();
    }
}
