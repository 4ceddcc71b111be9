using MiniVM.Machine.Configuration;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// FreeDOS's 32 MiB hard disk as iROW on virtio-blk, through SeaBIOS's own virtio driver (INT 13h) and FreeDOS on top:
/// the legacy transport (1af4:1001, I/O BAR) and the modern one (1af4:1042, capabilities and a memory BAR) both reach
/// the marker the image's AUTOEXEC prints, and a file typed at C:\> is listed by DIR and found in the image by mtools afterwards.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class VirtioBootTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly MiniVmWorkDir _work = new("minivm-virtio", Limit);

    public void Dispose() => _work.Dispose();

    private string PathOf(string name) => _work.PathOf(name);

    private MiniVmProcess.Result Minivm(params string[] args) => _work.RunOk(args);

    [Theory]
    [InlineData("legacy", "1af4:1001", "using legacy (0.9.5) virtio mode")]
    [InlineData("modern", "1af4:1042", "using modern (1.0) virtio mode")]
    public void FreeDosBootsFromVirtioBlk(string transport, string pciId, string seabiosMode)
    {
        string disk = _work.FreeDosHardDiskAsIrow();
        string dump = PathOf("screen.txt"), log = PathOf("debug.txt");
        Minivm("run", "--drive", $"if=virtio,file={disk},transport={transport}", "--serial", "none",
            "--timeout", "200", "--screen-dump", dump, "--debug-log", log,
            "--sendkeys", @"echo virtio > C:\V.TXT\ndir C:\V.TXT\n", "--until", "file(s)");
        string screen = File.ReadAllText(dump);
        Assert.Contains("FREEDOS-HDD-OK", screen);
        Assert.Matches(@"V +TXT +9 ", screen);
        string debug = File.ReadAllText(log);
        Assert.Contains($"id={pciId}", debug);
        Assert.Contains(seabiosMode, debug);
        Assert.Equal(0, _work.Run("img", "check", disk).ExitCode);

        // The host's view: the file FreeDOS wrote through virtio-blk is in the image.
        Minivm("img", "convert", "-O", "raw", disk, PathOf("back.raw"));
        Assert.Equal("virtio \r\n", Mtools.Type(PathOf("back.raw"), 63 * 512, "::V.TXT"));
    }

    /// <summary>
    /// In process: FreeDOS at C:\> from virtio-blk, savevm, a command, hash; loadvm, the same command, the same hash and
    /// screen — the device's section (queue indices, status, ISR) puts the disk path back exactly.
    /// </summary>
    [Theory]
    [InlineData("legacy")]
    [InlineData("modern")]
    public void SavevmLoadvmOverVirtioBlkReplaysIdentically(string transport)
    {
        string disk = _work.FreeDosHardDiskAsIrow();
        var options = new VmOptions
        {
            Machine = new MachineOptions { Memory = 32, Rtc = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
            Firmware = MiniVmProcess.Firmware,
            Drives = [new DriveOptions { Interface = DriveInterface.Virtio, Index = 0, File = disk, Format = "irow", Transport = Enum.Parse<VirtioTransport>(transport, ignoreCase: true) }],
            Boot = "c",
            Serial = SerialSink.None,
        };
        using var machine = new PcMachine(options, new MachineOutputs());
        var runner = new MachineRunner(machine, new SerialText()) { Until = @"C:\>", Timeout = TimeSpan.FromMinutes(3) };
        Assert.Equal(RunOutcome.UntilMatched, runner.Run());
        Assert.Contains("FREEDOS-HDD-OK", machine.Vga.DumpText());

        string atSave = Convert.ToHexStringLower(machine.StateHash());
        machine.SaveVm("v1");
        machine.Keyboard.TypeText("dir C:\\\n");
        Run(machine, 40_000_000);
        string after = Convert.ToHexStringLower(machine.StateHash());
        string screen = machine.Vga.DumpText();
        Assert.NotEqual(atSave, after);

        machine.LoadVm("v1");
        Assert.Equal(atSave, Convert.ToHexStringLower(machine.StateHash()));
        machine.Keyboard.TypeText("dir C:\\\n");
        Run(machine, 40_000_000);
        Assert.Equal(after, Convert.ToHexStringLower(machine.StateHash()));
        Assert.Equal(screen, machine.Vga.DumpText());
    }

    private static void Run(PcMachine machine, long instructions)
    {
        long target = (long)machine.Cpu.InstructionCount + instructions;
        while ((long)machine.Cpu.InstructionCount < target)
            machine.RunSlice((int)Math.Min(200_000, target - (long)machine.Cpu.InstructionCount));
    }
}
