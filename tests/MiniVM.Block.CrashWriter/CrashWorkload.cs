namespace MiniVM.Block.CrashWriter;

/// <summary>Snapshot: create a snapshot, then delete the oldest while more than three exist (content never changes).</summary>
public enum CrashOpKind { Write, Zero, Flush, Snapshot }

/// <param name="Index">Position in the workload; the writer prints it after a flush completes.</param>
/// <param name="DataSeed">For writes: the seed of the bytes (see <see cref="CrashWorkload.Data"/>).</param>
public readonly record struct CrashOp(int Index, CrashOpKind Kind, long Offset, int Length, int DataSeed);

/// <summary>
/// The deterministic I/O sequence the crash test's child process runs and the parent replays: writes of every
/// alignment (sub-sector, sector, cluster, multi-cluster), write-zeroes, and a flush every few operations.
/// </summary>
public static class CrashWorkload
{
    public static IEnumerable<CrashOp> Ops(int seed, long diskSize, int maxOps, bool withSnapshots = false)
    {
        var rng = new Random(seed);
        for (int i = 0; i < maxOps; i++)
        {
            int roll = rng.Next(100);
            if (roll < 12) { yield return new CrashOp(i, CrashOpKind.Flush, 0, 0, 0); continue; }
            if (withSnapshots && roll < 16) { yield return new CrashOp(i, CrashOpKind.Snapshot, 0, 0, 0); continue; }
            int length = rng.Next(4) switch
            {
                0 => rng.Next(1, 600),
                1 => 512 * rng.Next(1, 16),
                2 => 4096 * rng.Next(1, 16),
                _ => rng.Next(1, 70_000),
            };
            long offset = rng.Next(3) == 0 ? rng.NextInt64(diskSize / 4096) * 4096 : rng.NextInt64(diskSize);
            length = (int)Math.Min(length, diskSize - offset);
            if (length == 0) length = 1;
            if (offset + length > diskSize) offset = diskSize - length;
            if (roll < 20) yield return new CrashOp(i, CrashOpKind.Zero, offset, length, 0);
            else yield return new CrashOp(i, CrashOpKind.Write, offset, length, rng.Next());
        }
    }

    public static void Data(int dataSeed, Span<byte> into)
    {
        var r = new Random(dataSeed);
        r.NextBytes(into);
    }
}
