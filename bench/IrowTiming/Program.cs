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

// Two images with the same 1 GiB of data, one with no ancestors and one with ANCESTORS snapshot states above it.
// Rounds alternate between them and the best of each is kept, so a load change on a shared machine hits both.
string flatFile = Path.Combine(work, "timing-flat.irow"), deepFile = Path.Combine(work, "timing-deep.irow");
using (var flat = registry.Create("irow", flatFile, 1L << 30, new ImageCreateOptions()))
using (var deep = registry.Create("irow", deepFile, 1L << 30, new ImageCreateOptions()))
{
    Fill(flat, 1L << 30);
    Fill(deep, 1L << 30);
    var store = (ISnapshotStore)deep;
    byte[] block = new byte[65536];
    for (int n = 1; n <= ancestors; n++)
    {
        // Each state owns a little data, so most clusters are ANCESTORS levels below the current state.
        block.AsSpan().Fill((byte)n);
        deep.Write(n * 4L * 65536 % deep.Size, block);
        store.CreateSnapshot($"s{n}");
    }
    deep.Flush();
    long[] offsets = RandomOffsets(flat.Size, 200_000);
    double flatBest = 0, deepBest = 0;
    for (int round = 0; round < 5; round++)
    {
        flatBest = Math.Max(flatBest, RandomReads(flat, offsets));
        deepBest = Math.Max(deepBest, RandomReads(deep, offsets));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"4k random reads, iROW: {flatBest:0} ops/s with no ancestors, {deepBest:0} ops/s with {ancestors} ancestors (speed ratio {deepBest / flatBest:0.00}, best of 5 alternating rounds)"));
}
Remove(work, "timing-flat.irow");
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
