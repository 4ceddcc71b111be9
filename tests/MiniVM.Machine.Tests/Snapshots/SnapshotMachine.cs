using MiniVM.Block;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>
/// An in-process PC for savevm/loadvm tests: FreeDOS's 720 KiB floppy read-only (QEMU snapshots only writable disks)
/// and an empty iROW disk on IDE that holds the snapshots, with a fixed RTC date so runs are identical.
/// </summary>
public sealed class SnapshotMachine : IDisposable
{
    /// <param name="cdrom">When given, a CD-ROM drive on the secondary master with this medium ("" for an empty drive).</param>
    public SnapshotMachine(string dir, int memoryMiB = 32, string diskFormat = "irow", bool create = true, string cpuEngine = "interpreter", string? cdrom = null)
    {
        DiskPath = Path.Combine(dir, "disk." + diskFormat);
        if (create) ImageFormats.Default.Create(diskFormat, DiskPath, 8 << 20, new ImageCreateOptions()).Dispose();
        var options = new VmOptions
        {
            Machine = new MachineOptions { Memory = memoryMiB, Rtc = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), CpuEngine = Enum.Parse<MiniVM.Cpu.CpuEngine>(cpuEngine, ignoreCase: true) },
            Firmware = MiniVmProcess.Firmware,
            Drives =
            [
                new DriveOptions { Interface = DriveInterface.Floppy, Index = 0, File = MiniVmProcess.Guest("freedos722.img"), Format = "raw", ReadOnly = true },
                new DriveOptions { Interface = DriveInterface.Ide, Index = 0, File = DiskPath, Format = diskFormat },
                .. cdrom is null ? [] : new[] { new DriveOptions { Interface = DriveInterface.Ide, Index = 2, Media = DriveMedia.Cdrom, File = cdrom, ReadOnly = true } },
            ],
            Boot = "a",
            Serial = SerialSink.None,
        };
        Machine = new PcMachine(options, new MachineOutputs());
    }

    public string DiskPath { get; }
    public PcMachine Machine { get; }

    /// <summary>Runs until the FreeDOS prompt is on screen.</summary>
    public void BootToPrompt()
    {
        var runner = new MachineRunner(Machine, new SerialText()) { Until = @"A:\>", Timeout = TimeSpan.FromMinutes(3) };
        Assert.Equal(RunOutcome.UntilMatched, runner.Run());
    }

    /// <summary>Executes exactly <paramref name="instructions"/> more instructions, slice by slice as the runner does.</summary>
    public void Run(long instructions)
    {
        long target = (long)Machine.Cpu.InstructionCount + instructions;
        while ((long)Machine.Cpu.InstructionCount < target)
            Machine.RunSlice((int)Math.Min(200_000, target - (long)Machine.Cpu.InstructionCount));
    }

    public string Hash() => Convert.ToHexStringLower(Machine.StateHash());

    public void Dispose() => Machine.Dispose();
}
