using System.Diagnostics;
using System.Globalization;
using MiniVM.Block;

// Usage: IrowTiming WORKDIR [ANCESTORS]
// 1. Snapshot create on a 64 GiB iROW image, empty and holding 1 GiB: median of 5, in milliseconds.
// 2. 4 KiB random reads over 1 GiB of data with no ancestor states, then with ANCESTORS (default 50):
//    the speed ratio deep/flat (target: at least 0.9).
string work = args.Length > 0 ? args[0] : Path.GetTempPath();
int ancestors = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50;
Directory.CreateDirectory(work);
var registry = ImageFormats.Default;

string big = Path.Combine(work, "timing-64g.irow");
using (var image = registry.Create("irow", big, 64L << 30, new ImageCreateOptions()))
{
    var store = (ISnapshotStore)image;
    Console.WriteLine($"snapshot create, 64 GiB iROW, empty:      {SnapshotMs(image, store, "empty"):0.00} ms (median of 5)");
    Fill(image, 1L << 30);
    Console.WriteLine($"snapshot create, 64 GiB iROW, 1 GiB data: {SnapshotMs(image, store, "full"):0.00} ms (median of 5)");
}
Remove(work, "timing-64g.irow");

string deep = Path.Combine(work, "timing-deep.irow");
using (var image = registry.Create("irow", deep, 1L << 30, new ImageCreateOptions()))
{
    Fill(image, 1L << 30);
    image.Flush();
    long[] offsets = RandomOffsets(image.Size, 200_000);
    RandomReads(image, offsets); // warm-up: page cache and JIT
    double flat = RandomReads(image, offsets);
    var store = (ISnapshotStore)image;
    byte[] block = new byte[65536];
    for (int n = 1; n <= ancestors; n++)
    {
        // Each state owns a little data, so the current state is ANCESTORS levels above most clusters.
        block.AsSpan().Fill((byte)n);
        image.Write(n * 4L * 65536 % image.Size, block);
        store.CreateSnapshot($"s{n}");
    }
    image.Flush();
    RandomReads(image, offsets);
    double deepRate = RandomReads(image, offsets);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"4k random reads, iROW: {flat:0} ops/s with no ancestors, {deepRate:0} ops/s with {ancestors} ancestors (speed ratio {deepRate / flat:0.00})"));
}
Remove(work, "timing-deep.irow");

static double SnapshotMs(IBlockDriver image, ISnapshotStore store, string prefix)
{
    var times = new double[5];
    for (int i = 0; i < times.Length; i++)
    {
        long t = Stopwatch.GetTimestamp();
        store.CreateSnapshot($"{prefix}{i}");
        times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        image.Write(i * 65536L, new byte[4096]); // the next snapshot has something new to freeze
    }
    Array.Sort(times);
    return times[times.Length / 2];
}

static void Fill(IBlockDriver image, long bytes)
{
    byte[] chunk = new byte[1 << 20];
    chunk.AsSpan().Fill(0x5a);
    for (long off = 0; off < bytes; off += chunk.Length) image.Write(off, chunk);
    image.Flush();
}

static long[] RandomOffsets(long size, int count)
{
    var rng = new Random(1234);
    var offsets = new long[count];
    for (int i = 0; i < count; i++) offsets[i] = rng.NextInt64(size / 4096) * 4096;
    return offsets;
}

static double RandomReads(IBlockDriver image, long[] offsets)
{
    byte[] buffer = new byte[4096];
    long t = Stopwatch.GetTimestamp();
    foreach (long off in offsets) image.Read(off, buffer);
    return offsets.Length / Stopwatch.GetElapsedTime(t).TotalSeconds;
}

static void Remove(string dir, string name)
{
    foreach (var f in Directory.GetFiles(dir, name + "*")) File.Delete(f);
}
