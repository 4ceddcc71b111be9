using System.Buffers.Binary;
using System.Diagnostics;
using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// Whole-image prefetch (fvd.md §3.7): every base block still unset is copied into the image, then
/// all_data_in_fvd_img is set and the base is never opened again, so the base file can go. What is asserted is what
/// a user sees: the disk's bytes with the base deleted, the header flag, a clean check, after a kill at every write.
/// </summary>
public sealed class FvdPrefetchTests : IDisposable
{
    private const int BaseSize = 2 << 20;
    private const int DiskSize = 3 << 20;
    private readonly TempDir _dir = new();
    private readonly byte[] _base = new byte[BaseSize];

    public FvdPrefetchTests()
    {
        new Random(16).NextBytes(_base);
        _base.AsSpan(512 * 1024, 256 * 1024).Clear(); // a zero run, stored as zeroes
    }

    public void Dispose() => _dir.Dispose();

    private string Image => _dir.File("p.fvd");

    /// <summary>An overlay with some guest writes (journaled, one across a block boundary), closed cleanly; returns the disk's bytes.</summary>
    private byte[] Create(string options)
    {
        File.WriteAllBytes(_dir.File("base.raw"), _base);
        var o = ImageCreateOptions.Parse(options);
        o.BackingFile = "base.raw";
        o.BackingFormat = "raw";
        var expected = new byte[DiskSize];
        _base.CopyTo(expected, 0);
        using var img = ImageFormats.Default.Create("fvd", Image, DiskSize, o);
        foreach (var (at, len, fill) in new[] { (4000L, 300, (byte)0x11), (1 << 20, 8192, (byte)0x22), (BaseSize + 100L, 1000, (byte)0x33) })
        {
            var data = Enumerable.Repeat(fill, len).ToArray();
            img.Write(at, data);
            data.CopyTo(expected, at);
        }
        return expected;
    }

    private byte[] ReadAll(IBlockDriver img)
    {
        var all = new byte[img.Size];
        img.Read(0, all);
        return all;
    }

    private static bool AllDataFlag(string image)
    {
        var head = new byte[12];
        using (var f = File.OpenRead(image)) f.ReadExactly(head);
        return BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(8)) == 1;
    }

    [Theory]
    [InlineData("block_size=4K")]
    [InlineData("block_size=4K,copy_on_read=on")]
    [InlineData("block_size=4K,compact_image=on,chunk_size=64K,storage_grow_unit=256K")]
    [InlineData("block_size=4K,journal_size=-1")]
    public void After_prefetch_the_base_can_be_deleted_and_the_disk_reads_the_same(string options)
    {
        var expected = Create(options);
        var seen = new List<PrefetchProgress>();
        using (var img = (FvdImage)ImageFormats.Default.Open(Image))
        {
            Assert.True(img.PrefetchPending);
            img.Prefetch(seen.Add, throttle: false, CancellationToken.None);
            Assert.False(img.PrefetchPending);
            Assert.Null(img.Backing);
            Assert.Equal(expected, ReadAll(img));
            img.Write(100, new byte[] { 0x44, 0x44 }); // writes after the prefetch go straight to the data area
            expected[100] = expected[101] = 0x44;
        }
        Assert.True(AllDataFlag(Image));
        Assert.Equal(new PrefetchProgress(BaseSize, BaseSize), seen[^1]);
        Assert.True(seen.Count >= 2 && seen[0].Done < BaseSize, string.Join(", ", seen));
        File.Delete(_dir.File("base.raw"));
        using var again = ImageFormats.Default.Open(Image);
        Assert.Null(((IBackingImage)again).BackingFileName);
        Assert.Equal(expected, ReadAll(again));
        var check = ((IImageCheck)again).Check();
        Assert.True(check.Corruptions == 0 && check.Leaks == 0, string.Join("; ", check.Messages));
    }

    [Fact]
    public void A_vm_open_prefetches_in_the_background_after_the_delay()
    {
        var expected = Create("block_size=4K,prefetch_start_delay=1");
        using (var img = (FvdImage)ImageFormats.Default.Open(Image, null, new ImageOpenContext { PrefetchInBackground = true }))
        {
            var watch = Stopwatch.StartNew();
            while (img.PrefetchPending && watch.Elapsed < TimeSpan.FromSeconds(120)) Thread.Sleep(50);
            Assert.False(img.PrefetchPending, $"background prefetch did not finish: {img.PrefetchError}");
            Assert.Equal(expected, ReadAll(img));
        }
        File.Delete(_dir.File("base.raw"));
        using var again = ImageFormats.Default.Open(Image);
        Assert.Equal(expected, ReadAll(again));
    }

    [Fact]
    public void A_tool_open_never_starts_the_prefetch()
    {
        Create("block_size=4K,prefetch_start_delay=1");
        using (var img = (FvdImage)ImageFormats.Default.Open(Image))
        {
            Thread.Sleep(1500);
            Assert.True(img.PrefetchPending);
        }
        Assert.False(AllDataFlag(Image));
    }

    [Fact]
    public void Closing_during_a_background_prefetch_stops_it_and_keeps_the_disk()
    {
        var expected = Create("block_size=4K,prefetch_start_delay=1");
        using (var img = ImageFormats.Default.Open(Image, null, new ImageOpenContext { PrefetchInBackground = true }))
            Thread.Sleep(1100);
        using var again = ImageFormats.Default.Open(Image);
        Assert.Equal(expected, ReadAll(again));
        Assert.Equal(0, ((IImageCheck)again).Check().Corruptions);
    }

    /// <summary>
    /// The prefetch killed (SIGKILL by strace, before the call runs) at each of its pwrites in turn: every reopen checks
    /// clean and reads the same disk, with or without the base still needed.
    /// </summary>
    [Theory]
    [Trait("Category", "Crash")]
    [InlineData("block_size=4K")]
    [InlineData("block_size=4K,compact_image=on,chunk_size=64K,storage_grow_unit=256K")]
    public void Killed_at_every_write_of_a_prefetch_the_image_checks_clean_and_reads_the_same(string options)
    {
        var expected = Create(options);
        string pristine = _dir.File("pristine.fvd");
        File.Copy(Image, pristine);
        int killed = 0;
        for (int n = 1; ; n++)
        {
            File.Copy(pristine, Image, overwrite: true);
            bool wasKilled = RunKilledAtPwrite(n);
            using (var img = (FvdImage)ImageFormats.Default.Open(Image))
            {
                var check = img.Check();
                Assert.True(check.Corruptions == 0, $"pwrite {n}: {string.Join("; ", check.Messages)}");
                Assert.True(expected.AsSpan().SequenceEqual(ReadAll(img)), $"pwrite {n}: the disk changed");
                if (!wasKilled) Assert.False(img.PrefetchPending);
            }
            if (!wasKilled) break;
            killed++;
        }
        Assert.True(killed >= 3, $"only {killed} pwrite kill points");
        File.Delete(_dir.File("base.raw"));
        using var done = ImageFormats.Default.Open(Image);
        Assert.Equal(expected, ReadAll(done));
    }

    private bool RunKilledAtPwrite(int n)
    {
        var psi = new ProcessStartInfo("strace") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-f", "-o", "/dev/null", "-e", "trace=pwrite64", "-e", $"inject=pwrite64:signal=KILL:when={n}",
                     "dotnet", CrashRounds.WriterPath(), Image, "prefetch" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        bool done = false;
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
            if (line == "DONE") done = true;
        p.WaitForExit();
        Assert.True(done || p.ExitCode != 0, err.Result);
        return !done;
    }

    [Fact]
    public void The_throttle_pauses_only_when_the_average_falls_under_the_minimum()
    {
        var h = new FvdHeader
        {
            PrefetchPerfCalcAlpha = 80, PrefetchReadThroughputMeasureTime = 100, PrefetchWriteThroughputMeasureTime = 100,
            PrefetchMinReadThroughput = 5120, PrefetchMinWriteThroughput = 5120, PrefetchThrottleTime = 30_000,
        };
        var fast = new FvdPrefetchThrottle(h, new Random(1));
        // 1 MiB in 10 ms each way: 100 MB/s, far over 5 MB/s, never pauses.
        for (int i = 0; i < 100; i++) Assert.Equal(TimeSpan.Zero, fast.Account(10, 10, 1 << 20));
        var slow = new FvdPrefetchThrottle(h, new Random(1));
        // 64 KiB in 50 ms: 1.3 MB/s. The coin means some rounds pause and some forget the average; over many, both happen.
        int pauses = 0;
        for (int i = 0; i < 400; i++)
        {
            var pause = slow.Account(50, 50, 64 * 1024);
            if (pause > TimeSpan.Zero)
            {
                pauses++;
                Assert.InRange(pause.TotalMilliseconds, 1, 30_000);
            }
        }
        Assert.InRange(pauses, 20, 180);
        h.PrefetchThrottleTime = 0;
        Assert.Equal(TimeSpan.Zero, new FvdPrefetchThrottle(h, new Random(1)).Account(50, 50, 1));
    }
}
