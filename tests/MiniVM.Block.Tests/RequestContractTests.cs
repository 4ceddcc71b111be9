using System.Text;

namespace MiniVM.Block.Tests;

/// <summary>
/// The request contract (<see cref="BlockDriver"/>), the same cases against every format: ranges, read-only opens,
/// use after close, reads past the end of sparse host files, a backing image shorter than its overlay, and host I/O
/// errors from below. A format that answers differently from the others fails here, whatever its own tests say.
/// </summary>
public class RequestContractTests
{
    private const long Size = 1 << 20;
    private const int Cluster = 64 * 1024;

    public static TheoryData<string> Formats => new() { "raw", "qcow2", "irow", "add-cow", "fvd" };

    /// <summary>The formats that read through a backing image.</summary>
    public static TheoryData<string> Overlays => new() { "qcow2", "irow", "add-cow", "fvd" };

    /// <summary>
    /// A new image of <paramref name="format"/> in <paramref name="dir"/>; add-cow needs a backing image, so without one
    /// it gets an empty raw base of the same size (which reads as zeroes, like no backing at all).
    /// </summary>
    private static IBlockDriver Create(TempDir dir, string format, long size = Size, string? backing = null,
        string? backingFormat = null, ImageFormats? registry = null)
    {
        registry ??= ImageFormats.Default;
        if (format == "add-cow" && backing is null)
        {
            registry.Create("raw", dir.File("zero-base.raw"), size, new ImageCreateOptions()).Dispose();
            (backing, backingFormat) = ("zero-base.raw", "raw");
        }
        var options = new ImageCreateOptions { BackingFile = backing, BackingFormat = backingFormat };
        return registry.Create(format, dir.File("disk." + format), size, options);
    }

    private static IBlockDriver Reopen(TempDir dir, string format, bool readOnly, ImageFormats? registry = null)
    {
        registry ??= ImageFormats.Default;
        return registry.Open(dir.File("disk." + format), format, new ImageOpenContext { ReadOnly = readOnly, Registry = registry });
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] ReadAll(IBlockDriver d)
    {
        var all = new byte[d.Size];
        d.Read(0, all);
        return all;
    }

    private static string RangeError(IBlockDriver d, long offset, long length) =>
        $"{d.FileName}: range {offset}+{length} is outside the disk (size {d.Size})";

    [Theory, MemberData(nameof(Formats))]
    public void Every_request_outside_the_disk_is_refused_with_one_wording_and_changes_nothing(string format)
    {
        using var dir = new TempDir();
        using var d = Create(dir, format);
        var data = Pattern(4096, 1);
        d.Write(Size - 4096, data);
        (long Offset, int Length)[] outside = [(-1, 1), (Size - 1, 2), (Size, 1), (Size + 4096, 0), (long.MaxValue, 1)];
        foreach (var (off, len) in outside)
        {
            Assert.Equal(RangeError(d, off, len), Assert.Throws<ImageFormatException>(() => d.Read(off, new byte[len])).Message);
            Assert.Equal(RangeError(d, off, len), Assert.Throws<ImageFormatException>(() => d.Write(off, new byte[len])).Message);
            Assert.Equal(RangeError(d, off, len), Assert.Throws<ImageFormatException>(() => d.WriteZeroes(off, len)).Message);
            Assert.Equal(RangeError(d, off, len), Assert.Throws<ImageFormatException>(() => d.Discard(off, len)).Message);
        }
        Assert.Equal(RangeError(d, 0, -1), Assert.Throws<ImageFormatException>(() => d.WriteZeroes(0, -1)).Message);
        // The edges themselves are inside: an empty request at the end, the last byte.
        d.Read(Size, Span<byte>.Empty);
        d.Write(Size, ReadOnlySpan<byte>.Empty);
        var last = new byte[1];
        d.Read(Size - 1, last);
        Assert.Equal(data[^1], last[0]);
        // Block status: inside the disk, clipped to it; at or past the end, or with no length, refused.
        var e = d.GetBlockStatus(Size - 1, 4096);
        Assert.Equal((Size - 1, 1L), (e.Offset, e.Length));
        Assert.Contains("is outside the disk", Assert.Throws<ImageFormatException>(() => d.GetBlockStatus(Size, 1)).Message);
        Assert.Contains("is outside the disk", Assert.Throws<ImageFormatException>(() => d.GetBlockStatus(-1, 1)).Message);
        Assert.Contains("must be positive", Assert.Throws<ImageFormatException>(() => d.GetBlockStatus(0, 0)).Message);
        d.Dispose();

        using var again = Reopen(dir, format, readOnly: true);
        var all = ReadAll(again);
        Assert.Equal(data, all[(int)(Size - 4096)..]);
        Assert.True(all.AsSpan(0, (int)(Size - 4096)).IndexOfAnyExcept((byte)0) < 0, "a refused request wrote something");
    }

    [Theory, MemberData(nameof(Formats))]
    public void A_read_only_open_refuses_every_change_and_the_bytes_on_disk_stay(string format)
    {
        using var dir = new TempDir();
        var data = Pattern(3 * Cluster, 2);
        using (var d = Create(dir, format)) d.Write(Cluster, data);
        var files = Directory.GetFiles(dir.Path).ToDictionary(f => f, File.ReadAllBytes);

        using (var ro = Reopen(dir, format, readOnly: true))
        {
            Assert.True(ro.IsReadOnly);
            string refused = $"{ro.FileName}: image is open read-only";
            Assert.Equal(refused, Assert.Throws<ImageFormatException>(() => ro.Write(0, new byte[512])).Message);
            Assert.Equal(refused, Assert.Throws<ImageFormatException>(() => ro.WriteZeroes(Cluster, Cluster)).Message);
            Assert.Equal(refused, Assert.Throws<ImageFormatException>(() => ro.Discard(Cluster, Cluster)).Message);
            // The range is checked first: a request outside the disk is a range error even on a read-only image.
            Assert.Equal(RangeError(ro, Size, 1), Assert.Throws<ImageFormatException>(() => ro.Write(Size, new byte[1])).Message);
            ro.Flush();
            Assert.Equal(data, ReadAll(ro)[Cluster..(4 * Cluster)]);
        }
        foreach (var (f, bytes) in files) Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(f)), $"{f} changed under a read-only open");
    }

    [Theory, MemberData(nameof(Formats))]
    public void A_closed_image_refuses_every_request_and_closes_once(string format)
    {
        using var dir = new TempDir();
        var d = Create(dir, format);
        d.Dispose();
        d.Dispose();
        Assert.Throws<ObjectDisposedException>(() => d.Read(0, new byte[512]));
        Assert.Throws<ObjectDisposedException>(() => d.Write(0, new byte[512]));
        Assert.Throws<ObjectDisposedException>(() => d.WriteZeroes(0, 512));
        Assert.Throws<ObjectDisposedException>(() => d.Discard(0, 512));
        Assert.Throws<ObjectDisposedException>(() => d.Flush());
        Assert.Throws<ObjectDisposedException>(() => d.GetBlockStatus(0, 512));
    }

    [Theory, MemberData(nameof(Formats))]
    public void Bytes_past_the_end_of_sparse_host_files_read_as_zeroes(string format)
    {
        using var dir = new TempDir();
        const long Big = 16L << 20;
        var head = Pattern(5000, 3);
        var mid = Pattern(Cluster + 1000, 4);
        using (var d = Create(dir, format, Big))
        {
            // Only a little is written: the host files end long before the disk does.
            d.Write(100, head);
            d.Write(Big / 2 - 500, mid);
            d.WriteZeroes(Big / 2 + 3 * Cluster, Cluster);
        }
        using var ro = Reopen(dir, format, readOnly: true);
        Assert.Equal(Big, ro.Size);
        var model = new byte[Big];
        head.CopyTo(model, 100);
        mid.CopyTo(model, Big / 2 - 500);
        var all = ReadAll(ro);
        Assert.True(model.AsSpan().SequenceEqual(all), "the image does not read as written, zeroes elsewhere");
        // A read that starts in written data and runs far past every host file's end.
        var tail = new byte[4 * Cluster];
        ro.Read(Big - tail.Length, tail);
        Assert.True(tail.AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory, MemberData(nameof(Overlays))]
    public void A_backing_image_shorter_than_the_overlay_reads_as_itself_then_zeroes(string format)
    {
        using var dir = new TempDir();
        // Not a whole number of clusters: the last overlay cluster that reaches the backing reaches past its end.
        const int BaseSize = 3 * Cluster + 512;
        var baseBytes = Pattern(BaseSize, 5);
        using (var b = ImageFormats.Default.Create("raw", dir.File("base.raw"), BaseSize, new ImageCreateOptions())) b.Write(0, baseBytes);

        var model = new byte[Size];
        baseBytes.CopyTo(model, 0);
        using (var d = Create(dir, format, Size, "base.raw", "raw"))
        {
            Assert.True(model.AsSpan().SequenceEqual(ReadAll(d)), "before any write");
            // A write straddling the backing's end: the copy-on-write of its cluster merges base bytes and zeroes.
            var w = Pattern(8192, 6);
            d.Write(BaseSize - 4096, w);
            w.CopyTo(model, BaseSize - 4096);
            // A small write into a cluster wholly past the backing's end.
            var w2 = Pattern(700, 7);
            d.Write(5 * Cluster + 300, w2);
            w2.CopyTo(model, 5 * Cluster + 300);
            Assert.True(model.AsSpan().SequenceEqual(ReadAll(d)), "after writes");
        }
        using var again = Reopen(dir, format, readOnly: true);
        Assert.True(model.AsSpan().SequenceEqual(ReadAll(again)), "after reopening");
    }

    [Theory, MemberData(nameof(Overlays))]
    public void A_host_read_error_below_the_overlay_is_one_line_naming_the_image_and_the_image_stays_usable(string format)
    {
        using var dir = new TempDir();
        var registry = FailingDisk.Registry();
        const int BaseSize = 4 * Cluster;
        FailingDisk.Write(dir.File("base.img"), BaseSize, badFrom: 2 * Cluster);

        using var d = Create(dir, format, Size, "base.img", FailingDisk.FormatName, registry);
        var good = new byte[Cluster];
        d.Read(0, good); // the base's readable part
        Assert.Equal(FailingDisk.ByteAt(100), good[100]);

        var read = Assert.Throws<ImageIOException>(() => d.Read(2 * Cluster, new byte[4096]));
        Assert.Equal($"{d.FileName}: read failed: {FailingDisk.Error}", read.Message);
        Assert.IsType<IOException>(read.InnerException);
        Assert.Equal(d.FileName, read.FileName);
        // A partial write there needs the base's bytes for its copy-on-write and fails the same way.
        var write = Assert.Throws<ImageIOException>(() => d.Write(3 * Cluster + 100, new byte[100]));
        Assert.Equal($"{d.FileName}: write failed: {FailingDisk.Error}", write.Message);

        // Nothing is left half done: the image still reads and writes where the base is not needed.
        var whole = Pattern(Cluster, 8);
        d.Write(2 * Cluster, whole);
        var back = new byte[Cluster];
        d.Read(2 * Cluster, back);
        Assert.Equal(whole, back);
        d.Read(0, good);
        Assert.Equal(FailingDisk.ByteAt(100), good[100]);
        d.Flush();
    }

    /// <summary>
    /// A disk whose host reads fail from one offset on, as a file on a failing medium does (EIO): the base under the
    /// overlays of <see cref="A_host_read_error_below_the_overlay_is_one_line_naming_the_image_and_the_image_stays_usable"/>.
    /// It is its own format (found by its magic), so every format's backing-open path reaches it unchanged.
    /// </summary>
    private sealed class FailingDisk(string fileName, long size, long badFrom) : IBlockDriver
    {
        public const string FormatName = "failing";
        public const string Error = "Input/output error";
        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("FAILING!");

        public static ImageFormats Registry()
        {
            var r = new ImageFormats();
            foreach (var f in ImageFormats.Default.All) r.Register(f);
            r.Register(new Format());
            return r;
        }

        /// <summary>The file: magic, the offset reads start failing at, then nothing (the content is <see cref="ByteAt"/>).</summary>
        public static void Write(string path, long size, long badFrom)
        {
            var b = new byte[size];
            Magic.CopyTo(b, 0);
            BitConverter.GetBytes(badFrom).CopyTo(b, 8);
            File.WriteAllBytes(path, b);
        }

        public static byte ByteAt(long offset) => (byte)(offset * 7 + 1);

        string IBlockDriver.FormatName => FormatName;
        public string FileName => fileName;
        public long Size => size;
        public bool IsReadOnly => true;

        public void Read(long offset, Span<byte> buffer)
        {
            if (offset + buffer.Length > badFrom) throw new IOException(Error);
            for (int i = 0; i < buffer.Length; i++) buffer[i] = ByteAt(offset + i);
        }

        public void Write(long offset, ReadOnlySpan<byte> data) => throw new NotSupportedException();
        public void Flush() { }
        public Extent GetBlockStatus(long offset, long maxLength) => new(offset, Math.Min(maxLength, size - offset), ExtentKind.Data, fileName, offset);
        public void WriteZeroes(long offset, long length) => throw new NotSupportedException();
        public void Discard(long offset, long length) => throw new NotSupportedException();
        public void Dispose() { }

        private sealed class Format : IImageFormat
        {
            public string Name => FormatName;
            public IReadOnlyList<CreateOptionSpec> CreateOptions => [];
            public int Probe(ReadOnlySpan<byte> head, string fileName) => head.StartsWith(Magic) ? 100 : 0;
            public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context) => throw new NotSupportedException();

            public IBlockDriver Open(string fileName, ImageOpenContext context)
            {
                var b = File.ReadAllBytes(fileName);
                return new FailingDisk(fileName, b.Length, BitConverter.ToInt64(b, 8));
            }
        }
    }
}
