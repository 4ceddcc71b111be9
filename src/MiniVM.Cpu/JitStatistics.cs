namespace MiniVM.Cpu;

/// <summary>What the translating engine has done since the CPU was created (see <see cref="X86Cpu.JitStatistics"/>).</summary>
/// <param name="BlocksTranslated">Blocks compiled to IL, counting re-translations after invalidation.</param>
/// <param name="InstructionsTranslated">Guest instructions in those blocks.</param>
/// <param name="TranslationTime">Host time spent decoding and emitting blocks, plus each block's first run (which is
/// when the .NET JIT compiles it).</param>
/// <param name="LiveBlocks">Blocks in the code cache now (bounded by <see cref="X86Cpu.JitCacheCapacity"/>).</param>
/// <param name="LiveIlBytes">IL bytes of those blocks (bounded by <see cref="X86Cpu.JitCacheIlBytes"/>; native code is of the same order).</param>
/// <param name="Evictions">Times the full cache was dropped to make room.</param>
/// <param name="Flushes">Times translations were dropped for a reason other than room (engine switch, loadvm, reset).</param>
/// <param name="BlockRuns">Translated blocks entered.</param>
/// <param name="ChainedRuns">Of those, entered straight from another block's exit (chained) rather than from the run loop.</param>
/// <param name="InstructionsInBlocks">Guest instructions executed inside translated blocks.</param>
public readonly record struct JitStatistics(
    long BlocksTranslated,
    long InstructionsTranslated,
    TimeSpan TranslationTime,
    int LiveBlocks,
    long LiveIlBytes,
    long Evictions,
    long Flushes,
    long BlockRuns,
    long ChainedRuns,
    long InstructionsInBlocks)
{
    /// <summary>One line for the monitor's `info jit` and the benchmarks.</summary>
    public override string ToString() =>
        $"blocks translated {BlocksTranslated} ({InstructionsTranslated} instructions) in {TranslationTime.TotalMilliseconds:0} ms; " +
        $"cache {LiveBlocks} blocks, {LiveIlBytes / 1024} KiB IL; evictions {Evictions}, flushes {Flushes}; " +
        $"block runs {BlockRuns} ({ChainedRuns} chained), {InstructionsInBlocks} instructions in blocks";
}
