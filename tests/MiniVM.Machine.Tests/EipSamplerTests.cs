using System.Buffers.Binary;
using System.Globalization;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests;

/// <summary>
/// `minivm run --eip-samples`: the profile of bench/cpu-loop.bin (SeaBIOS boots it; it runs a known loop of 13
/// instructions an iteration, plus INC EBP on some, then reports on COM1). The samples must sit on the instruction
/// grid, carry the virtual time of a 10-ns-per-instruction clock, and put in the loop's code exactly as many samples
/// more as the longer loop has instructions more — what makes the histogram of bench/eip-profile.py a true picture.
/// </summary>
public sealed class EipSamplerTests : IDisposable
{
    private const int IterationsOffset = 0x1F8;
    private const long Interval = 10_000;
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-eipsamples").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The loop from TOP to RET as cpu-loop.bin holds it (CpuLoopImageTests explains the encoding).</summary>
    private static readonly byte[] LoopCode = Convert.FromHexString(
        "01C8" + "31C3" + "898600001000" + "8B9600001000" + "83C604" + "81E6FF0F0000" + "39DA" + "7401" + "45" +
        "E805000000" + "49" + "75DA" + "EB05" + "8D7C5701" + "C3");

    private sealed record Sample(long Instructions, long VirtualNs, int Cpl, uint Linear);

    private (List<Sample> Samples, long Instructions, uint LoopStart, string Header) Profile(uint iterations)
    {
        byte[] sector = File.ReadAllBytes(Path.Combine(MiniVmProcess.RepoRoot, "bench", "cpu-loop.bin"));
        int top = sector.AsSpan().IndexOf(LoopCode);
        Assert.True(top > 0, "bench/cpu-loop.bin does not hold the loop");
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(IterationsOffset), iterations);
        string floppy = Path.Combine(_dir, $"loop-{iterations}.img");
        var options = MiniVmProcess.FloppyBootOptions(floppy, sector);
        var serial = new SerialText();
        using var machine = new PcMachine(options, new MachineOutputs { Serial = serial.Append });
        var text = new StringWriter(CultureInfo.InvariantCulture);
        long instructions;
        using (var sampler = new EipSampler(text, Interval))
        {
            var runner = new MachineRunner(machine, serial) { Until = " END\r\n", Timeout = TimeSpan.FromSeconds(120), Sampler = sampler };
            var outcome = runner.Run();
            Assert.True(outcome is RunOutcome.UntilMatched or RunOutcome.GuestHalted, $"run ended {outcome}; COM1: {serial}");
            instructions = runner.Instructions;
            Assert.Equal(instructions / Interval, sampler.Count);
        }
        string[] lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var samples = lines.Skip(1).Select(l => l.Split(' ')).Select(f => new Sample(
            long.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture),
            int.Parse(f[2], CultureInfo.InvariantCulture), uint.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture))).ToList();
        return (samples, instructions, 0x7C00 + (uint)top, lines[0]);
    }

    [Fact]
    public void SamplesSitOnTheInstructionGridAndCountTheLoopsInstructions()
    {
        const uint small = 100_000, large = 300_000;
        var a = Profile(small);
        var b = Profile(large);

        Assert.StartsWith("# minivm eip samples: every 10000 instructions", a.Header);
        foreach (var run in new[] { a, b })
        {
            // One sample every Interval executed instructions, none skipped, none twice.
            Assert.Equal(Enumerable.Range(1, run.Samples.Count).Select(i => i * Interval), run.Samples.Select(s => s.Instructions));
            // Virtual time never runs slower than the clock's 10 ns per instruction (HLT skips add to it, nothing subtracts).
            Assert.All(run.Samples, s => Assert.True(s.VirtualNs >= s.Instructions * MachineClock.NanosecondsPerInstruction));
            var inLoop = run.Samples.Where(s => s.Linear >= run.LoopStart && s.Linear < run.LoopStart + LoopCode.Length).ToList();
            Assert.NotEmpty(inLoop);
            // The loop runs with IF=0 and never halts: consecutive samples in it are exactly Interval × 10 ns apart.
            Assert.All(inLoop.Zip(inLoop.Skip(1)), p => Assert.Equal(Interval * MachineClock.NanosecondsPerInstruction, p.Second.VirtualNs - p.First.VirtualNs));
            Assert.All(inLoop, s => Assert.Equal(0, s.Cpl));
        }
        // The longer loop has 13 instructions an iteration more, plus INC EBP on (nearly) every one: its samples in the
        // loop's code grow by that many instructions over the interval (±1 for where the grid meets the loop's ends).
        // (The runs end at the first slice end after the report, so their totals carry up to one interval of slack.)
        long moreLoopInstructions = b.Instructions - a.Instructions;
        Assert.InRange(moreLoopInstructions, 13L * (large - small) - Interval, 14L * (large - small) + Interval);
        long moreSamples = CountIn(b) - CountIn(a);
        Assert.InRange(moreSamples, moreLoopInstructions / Interval - 1, moreLoopInstructions / Interval + 1);

        static long CountIn((List<Sample> Samples, long Instructions, uint LoopStart, string Header) r) =>
            r.Samples.Count(s => s.Linear >= r.LoopStart && s.Linear < r.LoopStart + LoopCode.Length);
    }

    [Fact]
    public void AnIntervalBelowOneInstructionIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EipSampler(TextWriter.Null, 0));
}
