namespace MiniVM.Machine.Tests.Boot;

/// <summary>A run with nothing to boot ends with one line and exit 4 instead of sitting at the BIOS for ever.</summary>
public sealed class NoBootableDeviceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-noboot").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ABlankDiskEndsTheRunWithExit4AndOneLine()
    {
        string disk = Path.Combine(_dir, "blank.raw");
        File.WriteAllBytes(disk, new byte[1 << 20]);
        var r = MiniVmProcess.Run(_dir, TimeSpan.FromMinutes(3), "run", "--drive", $"if=ide,index=0,format=raw,file={disk}", "--serial", "none", "--timeout", "150");
        Assert.Equal(4, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("minivm: no bootable device: the BIOS found nothing to boot in the boot order 'cad'", line);
    }

    [Fact]
    public void NoDriveAtAllIsExit4BeforeBooting()
    {
        // No vm.json in this folder and no drive option.
        var r = MiniVmProcess.Run(_dir, TimeSpan.FromMinutes(1), "run");
        Assert.Equal(4, r.ExitCode);
        Assert.Equal("minivm: no drive to boot from: give --hda, --fda or --drive, or a vm.json with drives (none found in the current folder)\n", r.Stderr);
    }
}
