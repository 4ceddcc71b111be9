namespace MiniVM.Machine.Tests.Boot;

/// <summary>Boots never run in parallel with each other: each wants a whole core.</summary>
[CollectionDefinition("boots", DisableParallelization = true)]
public sealed class BootCollection;

/// <summary>
/// The real guests of ../shared/guests booted with the real SeaBIOS through `minivm run`; each asserts what a
/// person would see on the screen (the text-mode dump) and the exit code. Tagged Boot: slower than unit tests.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class GuestBootTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-boot").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name) => Path.Combine(_dir, name);

    private (MiniVmProcess.Result Result, string Screen) Boot(params string[] args)
    {
        string dump = File("screen.txt");
        var r = MiniVmProcess.Run(_dir, Limit, [.. args, "--serial", "none", "--timeout", "200", "--screen-dump", dump]);
        string screen = System.IO.File.Exists(dump) ? System.IO.File.ReadAllText(dump) : "";
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}\n--- screen ---\n{screen}");
        return (r, screen);
    }

    [Fact]
    public void SeaBiosFindsEveryDeviceAndBootsFromFloppy()
    {
        string log = File("seabios.log");
        var (_, screen) = Boot("run", "--fda", MiniVmProcess.Guest("freedos722.img"), "--until", "Booting from", "--debug-log", log);
        Assert.Contains("Booting from Floppy", screen);
        string text = System.IO.File.ReadAllText(log);
        Assert.Contains("Found QEMU fw_cfg", text);
        Assert.Contains("Running on QEMU (i440fx)", text);
        Assert.Contains("PCI: init bdf=00:00.0 id=8086:1237", text);
        Assert.Contains("PCI: init bdf=00:01.0 id=8086:7000", text);
        Assert.Contains("PCI: init bdf=00:01.1 id=8086:7010", text);
        Assert.Contains("PCI: init bdf=00:02.0 id=1234:1111", text);
        Assert.Contains("VBE DISPI: lfb_addr=", text);
        Assert.Contains("Start SeaVGABIOS", text);
        Assert.DoesNotContain("WARNING", text);
        Assert.DoesNotContain("No bootable device", text);
    }

    /// <summary>
    /// OpenBSD 5.1's install floppy (issue 15) attaches the I/O APIC that SeaBIOS's MP table describes, masks both
    /// 8259s and runs its clock through the I/O APIC: without one it waited forever after `root on rd0a`. It must
    /// reach the installer's question (QEMU: about 40 s; here about 23 s of virtual time).
    /// </summary>
    [Fact]
    public void OpenBsdInstallFloppyReachesTheInstallerQuestion()
    {
        string floppy = File("openbsd.img");
        System.IO.File.Copy(MiniVmProcess.Guest("openbsd-5.1-floppy.img"), floppy);
        System.IO.File.SetAttributes(floppy, FileAttributes.Normal);
        string dump = File("screen.txt");
        var r = MiniVmProcess.Run(_dir, TimeSpan.FromMinutes(12), "run", "--fda", floppy, "--boot", "a", "--serial", "none",
            "--until", "(I)nstall, (U)pgrade or (S)hell?", "--timeout", "600", "--screen-dump", dump);
        string screen = System.IO.File.Exists(dump) ? System.IO.File.ReadAllText(dump) : "";
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}\n--- screen ---\n{screen}");
        Assert.Contains("root on rd0a", screen);
        Assert.Contains("Welcome to the OpenBSD/i386 5.1 installation program.", screen);
        Assert.Contains("(I)nstall, (U)pgrade or (S)hell?", screen);
    }

    [Fact]
    public void FreeDos720KReachesThePrompt()
    {
        var (_, screen) = Boot("run", "--fda", MiniVmProcess.Guest("freedos722.img"), "--until", @"A:\>");
        Assert.Contains("Welcome to FreeDOS", screen);
        Assert.Contains(@"A:\>", screen);
    }

    [Fact]
    public void FreeDos1440KReachesThePrompt()
    {
        var (_, screen) = Boot("run", "--fda", MiniVmProcess.Guest("freedos-boot-1440k.img"), "--until", @"A:\>");
        Assert.Contains(@"A:\>", screen);
    }

    [Fact]
    public void BootOsShowsItsPrompt()
    {
        var (_, screen) = Boot("run", "--fda", MiniVmProcess.Guest("bootos.img"), "--until", @"bootOS\n$");
        Assert.Matches(@"bootOS\n\$", screen);
    }

    [Fact]
    public void SectorLispEvaluatesCar()
    {
        string floppy = File("lisp.img");
        var image = new byte[1474560];
        System.IO.File.ReadAllBytes(MiniVmProcess.Guest("sectorlisp.bin")).CopyTo(image, 0);
        System.IO.File.WriteAllBytes(floppy, image);
        var (_, screen) = Boot("run", "--fda", floppy, "--sendkeys", @"(CAR (QUOTE (A B)))\n", "--until", @"(CAR (QUOTE (A B)))\nA");
        var lines = screen.Split('\n');
        int i = Array.FindIndex(lines, l => l.EndsWith("(CAR (QUOTE (A B)))", StringComparison.Ordinal));
        Assert.True(i >= 0, screen);
        Assert.Equal("A", lines[i + 1].Trim());
    }

    [Fact]
    public void MikeOsShowsItsWelcomeDialog()
    {
        string png = File("mikeos.png");
        var (_, screen) = Boot("run", "--fda", MiniVmProcess.Guest("mikeos-4.6.1.img"), "--until", "Welcome to MikeOS", "--screenshot", png);
        Assert.Contains("Welcome to MikeOS", screen);
        byte[] header = System.IO.File.ReadAllBytes(png)[..24];
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, header[..8]);
        int width = header[16] << 24 | header[17] << 16 | header[18] << 8 | header[19];
        int height = header[20] << 24 | header[21] << 16 | header[22] << 8 | header[23];
        Assert.Equal((720, 400), (width, height)); // 80x25 text with the 9x16 VGA font
    }
}
