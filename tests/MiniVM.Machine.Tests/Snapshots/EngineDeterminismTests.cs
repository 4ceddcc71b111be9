using MiniVM.Cpu;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>
/// The two CPU engines (machine.cpu-engine) run a real guest identically: FreeDOS booted under each to the same
/// instruction count gives the same whole-machine state hash (`info statehash`), and a savevm taken under one engine,
/// loaded under the other, replays the same keystrokes to the same hash and screen; the default Linux VM (virtio,
/// iROW) run for the same number of instructions under each engine prints the same console and has the same hash.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class EngineDeterminismTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-engines").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;

    [Fact]
    public void FreeDosBootedToTheSameInstructionCountHasTheSameStateHashUnderBothEngines()
    {
        using var interpreter = new SnapshotMachine(Dir("interpreter"), cpuEngine: "interpreter");
        interpreter.BootToPrompt();
        long count = (long)interpreter.Machine.Cpu.InstructionCount;
        string expected = interpreter.Hash();

        using var jit = new SnapshotMachine(Dir("jit"), cpuEngine: "jit");
        Assert.Equal(CpuEngine.Jit, jit.Machine.Cpu.Engine);
        // Compiled on the CPU's thread here, so the share of the boot run in blocks (asserted below) does not depend
        // on how soon a loaded host schedules the compiling worker; the other tests keep the machine's background
        // compilation, whose results must not depend on it either.
        jit.Machine.Cpu.JitCompileInBackground = false;
        jit.Run(count);
        Assert.Equal(count, (long)jit.Machine.Cpu.InstructionCount);
        Assert.Contains(@"A:\>", jit.Machine.Vga.DumpText());
        Assert.Equal(expected, jit.Hash());
        var stats = jit.Machine.Cpu.JitStatistics;
        Assert.True(stats.InstructionsInBlocks > count / 20, $"the JIT ran {stats.InstructionsInBlocks} of {count} instructions: {stats}");
    }

    [Theory]
    [InlineData("interpreter", "jit")]
    [InlineData("jit", "interpreter")]
    public void SavevmUnderOneEngineLoadvmUnderTheOtherReplaysToTheSameHash(string saveEngine, string loadEngine)
    {
        string dir = Dir("disk");
        string atSave, after, screenAfter;
        using (var first = new SnapshotMachine(dir, cpuEngine: saveEngine))
        {
            first.BootToPrompt();
            atSave = first.Hash();
            first.Machine.SaveVm("s1");
            first.Machine.Keyboard.TypeText("ver\n");
            first.Run(30_000_000);
            after = first.Hash();
            screenAfter = first.Machine.Vga.DumpText();
        }
        Assert.NotEqual(atSave, after);

        using var second = new SnapshotMachine(dir, create: false, cpuEngine: loadEngine);
        second.Run(1_000_000); // something else ran first: loadvm must put every bit back
        second.Machine.LoadVm("s1");
        Assert.Equal(atSave, second.Hash());
        second.Machine.Keyboard.TypeText("ver\n");
        second.Run(30_000_000);
        Assert.Equal(screenAfter, second.Machine.Vga.DumpText());
        Assert.Equal(after, second.Hash());
    }

    /// <summary>
    /// Instructions of the Linux boot compared (MINIVM_LINUX_ENGINE_INSTRUCTIONS overrides): SeaBIOS, SYSLINUX and the
    /// kernel's start; the whole boot to MINIVM-LINUX-READY (about 5.8 G) would not fit CI's time twice.
    /// </summary>
    private static long LinuxInstructions =>
        long.TryParse(Environment.GetEnvironmentVariable("MINIVM_LINUX_ENGINE_INSTRUCTIONS"), out long n) && n > 0 ? n : 2_000_000_000;

    [Fact]
    public void LinuxRunForTheSameInstructionCountHasTheSameStateHashUnderBothEngines()
    {
        long n = LinuxInstructions;
        var hashes = new List<string>();
        var consoles = new List<string>();
        foreach (string engine in new[] { "interpreter", "jit" })
        {
            string dir = Dir("linux-" + engine);
            string source = MiniVM.Machine.Tests.Boot.GuestImages.Get("images/build-linux.sh", "linux.irow");
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(source)!, "linux.irow*"))
                File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            var console = new System.Text.StringBuilder();
            var options = new VmOptions
            {
                Machine = new MachineOptions { Memory = 128, Rtc = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), CpuEngine = Enum.Parse<MiniVM.Cpu.CpuEngine>(engine, ignoreCase: true) },
                Firmware = MiniVmProcess.Firmware,
                Drives = [new DriveOptions { Interface = DriveInterface.Virtio, Index = 0, File = Path.Combine(dir, "linux.irow"), Format = "irow", Transport = VirtioTransport.Modern }],
                Boot = "c",
                Serial = SerialSink.None,
            };
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using (var machine = new PcMachine(options, new MachineOutputs { Serial = b => console.Append((char)b) }))
            {
                while ((long)machine.Cpu.InstructionCount < n)
                    machine.RunSlice((int)Math.Min(200_000, n - (long)machine.Cpu.InstructionCount));
                Assert.Equal(n, (long)machine.Cpu.InstructionCount);
                hashes.Add(Convert.ToHexStringLower(machine.StateHash()));
                output.WriteLine($"{engine}: {n} instructions in {clock.Elapsed.TotalSeconds:F1} s; {machine.Cpu.JitStatistics}");
            }
            consoles.Add(console.ToString());
        }
        output.WriteLine("console ends: " + consoles[0][^Math.Min(400, consoles[0].Length)..]);
        Assert.Contains("SYSLINUX", consoles[0]);
        Assert.Equal(consoles[0], consoles[1]);
        Assert.Equal(hashes[0], hashes[1]);
    }
}
