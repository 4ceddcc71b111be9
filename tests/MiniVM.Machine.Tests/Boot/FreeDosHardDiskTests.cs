
namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// FreeDOS's 32 MiB hard disk converted to iROW boots from IDE; a command typed at C:\> writes a file that the
/// host then reads back from the iROW image (convert to raw, then mtools) — the disk path end to end.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class FreeDosHardDiskTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly MiniVmWorkDir _work = new("minivm-hdd", Limit);

    public void Dispose() => _work.Dispose();

    private string PathOf(string name) => _work.PathOf(name);

    private MiniVmProcess.Result Minivm(params string[] args) => _work.RunOk(args);

    [Fact]
    public void BootsFromIrowOverIdeAndTheTypedFileLandsInTheImage()
    {
        _work.FreeDosHardDiskAsIrow();

        string dump = PathOf("screen.txt");
        Minivm("run", "--hda", PathOf("hdd.irow"), "--serial", "none", "--timeout", "200", "--screen-dump", dump,
            "--sendkeys", @"echo hello > C:\T.TXT\ndir C:\T.TXT\n", "--until", "file(s)");
        string screen = File.ReadAllText(dump);
        Assert.Contains("FREEDOS-HDD-OK", screen);
        Assert.Contains(@"C:\>", screen);
        Assert.Matches(@"T +TXT +8 ", screen);

        // The host's view: the iROW image, flattened, holds the file FreeDOS wrote.
        Minivm("img", "convert", "-O", "raw", PathOf("hdd.irow"), PathOf("back.raw"));
        Assert.Equal("hello \r\n", Mtools.Type(PathOf("back.raw"), 63 * 512, "::T.TXT"));
        Assert.Equal(0, _work.Run("img", "check", PathOf("hdd.irow")).ExitCode);
    }
}
