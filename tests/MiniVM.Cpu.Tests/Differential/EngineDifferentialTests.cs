using MiniVM.Cpu.Tests.Support;
using Xunit.Abstractions;

namespace MiniVM.Cpu.Tests.Differential;

/// <summary>
/// Random programs (<see cref="RandomProgram"/>) run under the interpreter and the translating engine from the same
/// state, with the same schedule of <see cref="X86Cpu.Run"/> budgets and external interrupts: every Run call must
/// return the same count and leave the same registers, and the end state (registers, EFLAGS, segments, CR0/CR2, the
/// exceptions with their error codes and EIPs, all memory below 512 KiB) must be identical. Each program runs
/// <see cref="Repetitions"/> times so its code is also run warm. MINIVM_DIFF_PROGRAMS sets the programs per mode
/// (default <see cref="DefaultPrograms"/>); MINIVM_DIFF_SEED replays one program.
/// </summary>
public sealed class EngineDifferentialTests(ITestOutputHelper output)
{
    public const int DefaultPrograms = 10, Repetitions = 4, SeedsPerMode = 1_000_000;

    private static readonly int[] JitThresholds = [1, 3, 16];

    private static int Programs =>
        int.TryParse(Environment.GetEnvironmentVariable("MINIVM_DIFF_PROGRAMS"), out int n) && n > 0 ? n : DefaultPrograms;

    private static IEnumerable<int> Seeds(GuestMode mode)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("MINIVM_DIFF_SEED"), out int only))
            return only / SeedsPerMode == (int)mode ? [only] : [];
        return Enumerable.Range((int)mode * SeedsPerMode, Programs);
    }

    [Theory]
    [InlineData(GuestMode.Real)]
    [InlineData(GuestMode.Flat32)]
    [InlineData(GuestMode.Paged32)]
    public void RandomProgramsEndInTheSameStateUnderBothEngines(GuestMode mode)
    {
        var reference = new DifferentialMachine(CpuEngines.Interpreter);
        var candidate = new DifferentialMachine(CpuEngines.Jit);
        int programs = 0, halted = 0, runs = 0;
        long instructions = 0;
        var vectors = new SortedDictionary<int, int>();
        foreach (int seed in Seeds(mode))
        {
            var program = RandomProgram.Generate(seed, mode);
            programs++;
            // From "translate at first sight" to the engine's default: blocks are entered cold, warm and mid-way.
            candidate.Cpu.JitThreshold = JitThresholds[seed % JitThresholds.Length];
            for (int rep = 0; rep < Repetitions; rep++)
            {
                int scheduleSeed = seed * 31 + rep;
                var expected = reference.Run(program, new RunSchedule(scheduleSeed));
                var actual = candidate.Run(program, new RunSchedule(scheduleSeed));
                string? diff = Observation.FirstDifference(expected, actual, reference.Engine, candidate.Engine);
                if (diff is not null)
                {
                    output.WriteLine(program.Disassembly());
                    Assert.Fail($"{mode} program seed {seed} (MINIVM_DIFF_SEED={seed}), run {rep + 1} of {Repetitions}: {diff}\n{program.Disassembly(400)}");
                }
                runs++;
                instructions += expected.Instructions;
                if (expected.Halted) halted++;
                foreach (int v in expected.Vectors) vectors[v] = vectors.GetValueOrDefault(v) + 1;
            }
        }
        var jit = candidate.Cpu.JitStatistics;
        output.WriteLine($"{mode}: {programs} programs, {runs} runs, {instructions} instructions per engine, {halted} runs halted; exceptions by vector: " +
                         string.Join(", ", vectors.Select(kv => $"#{kv.Key}×{kv.Value}")) + $"; {candidate.Engine}: {jit}");
        if (programs < 10) return; // a replayed seed: no coverage claims
        // The harness checks itself: programs end (they do not run away), and the faults they are built to raise happen.
        Assert.True(halted >= runs * 9 / 10, $"only {halted} of {runs} runs reached HLT");
        int[] expectedVectors = mode switch
        {
            GuestMode.Real => [0, 5, 6, 12, 13],
            GuestMode.Flat32 => [0, 5, 6, 13],
            _ => [0, 5, 6, 13, 14],
        };
        foreach (int v in expectedVectors) Assert.True(vectors.ContainsKey(v), $"no program raised #{v}");
        // And the candidate engine really ran translated code (a tiering change cannot silently make this test moot).
        Assert.True(jit.InstructionsInBlocks > instructions / 10, $"only {jit.InstructionsInBlocks} of {instructions} instructions ran in translated blocks");
        // The forms blocks cover never end one (a block would stop before them and count it in JitStops).
        string[] covered = ["movsb", "movsw", "movsd", "stosb", "stosw", "stosd", "lodsb", "lodsd", "cmpsb", "scasd", "div", "idiv",
                            "neg", "not", "shld", "shrd", "bt", "bts", "btr", "btc", "xadd", "cmpxchg", "xchg", "loop", "retf"];
        var stops = candidate.Cpu.JitStops(int.MaxValue);
        output.WriteLine("blocks stopped before: " + string.Join(", ", stops.Select(s => $"{s.Mnemonic}×{s.Count}")));
        foreach (var (mnemonic, count) in stops)
            Assert.False(covered.Contains(mnemonic), $"{count} translated blocks stopped before {mnemonic}, which blocks cover");
    }
}
