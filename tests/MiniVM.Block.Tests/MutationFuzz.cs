using System.Diagnostics;

namespace MiniVM.Block.Tests;

/// <summary>
/// The time-bounded mutation fuzz loop the format fuzz tests share: each round the test damages its image (its own
/// mutation rules) and hands back the work to run on it; the loop runs that work on its own thread, fails on a hang
/// (20 s), on any exception that escaped (the work catches ImageFormatException itself), and optionally on a run that
/// allocated too much on its thread. MINIVM_FUZZ_SECONDS lengthens the run (CI keeps the short default);
/// MINIVM_FUZZ_SEED varies it.
/// </summary>
internal static class MutationFuzz
{
    /// <param name="seed">The test's seed; MINIVM_FUZZ_SEED shifts it by a multiple of 1000.</param>
    /// <param name="defaultSeconds">How long the loop runs when MINIVM_FUZZ_SECONDS is not set.</param>
    /// <param name="allocationCap">Bytes one run may allocate on its thread; null: not measured.</param>
    /// <param name="nextRun">Writes this round's mutated image and returns the work: true if the image was used, false if rejected.</param>
    /// <returns>Rounds run, and how many of them the format rejected.</returns>
    public static async Task<(int Runs, int Rejected)> RunAsync(int seed, double defaultSeconds, long? allocationCap, Func<Random, Func<bool>> nextRun)
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("MINIVM_FUZZ_SECONDS"), out var s) ? s : defaultSeconds;
        if (int.TryParse(Environment.GetEnvironmentVariable("MINIVM_FUZZ_SEED"), out var extra)) seed += extra * 1000;
        var rnd = new Random(seed);
        var budget = Stopwatch.StartNew();
        int runs = 0, rejected = 0;
        while (budget.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            var work = nextRun(rnd);
            // A dedicated thread, so the allocation count is this run's alone.
            var run = Task.Factory.StartNew(() => Measure(work), TaskCreationOptions.LongRunning);
            Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20))) == run, $"run {runs} (seed {seed}) hung");
            Assert.True(run.Exception is null, $"run {runs} (seed {seed}): {run.Exception}");
            var (ok, allocated) = await run;
            if (allocationCap is long cap)
                Assert.True(allocated < cap, $"run {runs} (seed {seed}): allocated {allocated} bytes");
            if (!ok) rejected++;
            runs++;
        }
        return (runs, rejected);
    }

    private static (bool Ok, long Allocated) Measure(Func<bool> work)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        bool ok = work();
        return (ok, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
