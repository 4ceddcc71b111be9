using System.Buffers.Binary;
using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>Create's layout against header bytes built by hand from fvd.md §2.2 and the worked examples of §2.3.</summary>
public sealed class FvdLayoutTests : IDisposable
{
    private const long G10 = 10L << 30;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SparseBase(long size, string name = "base.raw")
    {
        using (var f = File.Create(_dir.File(name))) f.SetLength(size);
        return name;
    }

    private byte[] CreateAndReadHeader(long size, string options, string? backing = null)
    {
        var o = ImageCreateOptions.Parse(options);
        o.BackingFile = backing;
        ImageFormats.Default.Create("fvd", _dir.File("t.fvd"), size, o).Dispose();
        var b = new byte[8192];
        using var f = File.OpenRead(_dir.File("t.fvd"));
        f.ReadExactly(b);
        return b;
    }

    private void AssertSameBytes(byte[] expected, byte[] actual)
    {
        int at = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(at == expected.Length, $"header byte {at}: expected {expected[Math.Min(at, expected.Length - 1)]:x2}, got {actual[Math.Min(at, actual.Length - 1)]:x2}");
    }

    [Fact]
    public void Plain_image_header_is_magic_version_size_and_clean_flag_only()
    {
        var actual = CreateAndReadHeader(G10, "");
        Assert.Equal(new byte[] { 0xA9, 0xF5, 0x43, 0x51, 1, 0, 0, 0 }, actual[..8]);
        AssertSameBytes(new FvdBytes(G10, 8192).Header, actual);
        Assert.Equal(8192, new FileInfo(_dir.File("t.fvd")).Length);
    }

    [Fact]
    public void Ten_gib_over_ten_gib_base_matches_the_worked_example()
    {
        var actual = CreateAndReadHeader(G10, "", SparseBase(G10));
        var expected = new FvdBytes(G10, 19_406_848).WithBase("base.raw", G10, 512, 2_621_440).WithJournal(2_629_632, 16L << 20);
        AssertSameBytes(expected.Header, actual);
    }

    [Fact]
    public void Ten_gib_compact_without_base_matches_the_worked_example()
    {
        var actual = CreateAndReadHeader(G10, "compact_image=on");
        var expected = new FvdBytes(G10, 16_826_368).WithTable(8192, 1 << 20, 100L << 20).WithJournal(49_152, 16L << 20);
        AssertSameBytes(expected.Header, actual);
        // The table is created all EMPTY (0xFF), the journal all zero.
        using var f = File.OpenRead(_dir.File("t.fvd"));
        var table = new byte[40_960];
        f.Position = 8192; f.ReadExactly(table);
        Assert.All(table, b => Assert.Equal(0xFF, b));
        var journal = new byte[4096];
        f.Position = 49_152; f.ReadExactly(journal);
        Assert.All(journal, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Ten_gib_compact_over_ten_gib_base_matches_the_worked_example()
    {
        var actual = CreateAndReadHeader(G10, "compact_image=on", SparseBase(G10));
        var expected = new FvdBytes(G10, 19_447_808).WithBase("base.raw", G10, 512, 2_621_440)
            .WithTable(2_629_632, 1 << 20, 100L << 20).WithJournal(2_670_592, 16L << 20);
        AssertSameBytes(expected.Header, actual);
    }

    [Theory]
    [InlineData(16L << 30, 512, 4L << 20)]
    [InlineData(100L << 30, 4096, 3_276_800)]
    [InlineData(1L << 40, 32768, 4L << 20)]
    public void Default_block_size_keeps_the_bitmap_at_most_4_mib(long baseSize, int block, long bitmap)
    {
        var h = CreateAndReadHeader(baseSize, "", SparseBase(baseSize));
        Assert.Equal(block, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(1092)));
        Assert.Equal(bitmap, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(1084)));
    }

    [Fact]
    public void Options_land_in_their_fields_and_sizes_round_as_create_does()
    {
        // A base of 5000 bytes: base_img_size rounds up to 5120; block_size 1000 rounds up to 1024; chunk 5000 to 8192;
        // a grow unit below the chunk is raised to it; journal 1000 rounds up to 4096.
        File.WriteAllBytes(_dir.File("b.raw"), new byte[5000]);
        var h = CreateAndReadHeader(20_000, "block_size=1000,compact_image=on,chunk_size=5000,storage_grow_unit=4096,journal_size=1000,copy_on_read=on,prefetch_start_delay=7,add_storage_cmd=rm -rf x", "b.raw");
        Assert.Equal(20_480, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(12)));
        Assert.Equal(5120, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(1068)));
        Assert.Equal(1024, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(1092)));
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(1096)));
        Assert.Equal(7, BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(2148)));
        Assert.Equal(8192, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(2220)));
        Assert.Equal(8192, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(2228)));
        Assert.Equal("rm -rf x"u8.ToArray(), h.AsSpan(2236, 8).ToArray());
        Assert.Equal(4096, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(4292)));
        Assert.Equal(8192 + 4096 + 4096, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(4284)));
        Assert.Equal(8192 + 3 * 4096, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(20)));
    }

    [Fact]
    public void Journal_size_option_without_bitmap_or_table_still_moves_the_data_start()
    {
        var h = CreateAndReadHeader(1 << 20, "journal_size=8K");
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(4292)));
        Assert.Equal(8192 + 8192, BinaryPrimitives.ReadInt64LittleEndian(h.AsSpan(20))); // fvd.md §3.1 step 6 quirk
    }

    [Fact]
    public void Probe_recognises_the_magic_and_an_unknown_version_is_refused_not_opened_as_raw()
    {
        var f = new FvdFormat();
        Assert.Equal(100, f.Probe(new byte[] { 0xA9, 0xF5, 0x43, 0x51, 1, 0, 0, 0 }, "x"));
        Assert.Equal(100, f.Probe(new byte[] { 0xA9, 0xF5, 0x43, 0x51, 2, 0, 0, 0 }, "x"));
        Assert.Equal(0, f.Probe(new byte[] { 0xA9, 0xF5, 0x43 }, "x"));
        CreateAndReadHeader(1 << 20, "");
        Assert.Equal("fvd", ImageFormats.Default.Probe(_dir.File("t.fvd")).Name);
        using (var fs = new FileStream(_dir.File("t.fvd"), FileMode.Open)) { fs.Position = 4; fs.WriteByte(2); }
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Open(_dir.File("t.fvd")).Dispose());
        Assert.Contains("version", e.Message);
    }

    /// <summary>An image assembled by hand (header, bitmap, data area) reads as the spec says, and the stored shell
    /// command is shown by info and never run.</summary>
    [Fact]
    public void Hand_built_image_with_base_reads_bitmap_blocks_from_the_right_place()
    {
        var baseBytes = new byte[4096];
        Array.Fill(baseBytes, (byte)'B');
        File.WriteAllBytes(_dir.File("hb.raw"), baseBytes);
        string marker = _dir.File("ran");
        long meta = 8192 + 4096;
        var h = new FvdBytes(8192, meta).WithBase("hb.raw", 4096, 1024, 4096).Str(2236, $"touch {marker}");
        var file = new byte[meta + 8192];
        h.Header.CopyTo(file, 0);
        file[8192] = 0b0000_0101; // blocks 0 and 2 are in the FVD data area (LSB first)
        Array.Fill(file, (byte)'F', (int)meta, 8192);
        File.WriteAllBytes(_dir.File("hand.fvd"), file);
        using var img = (FvdImage)ImageFormats.Default.Open(_dir.File("hand.fvd"), null, new ImageOpenContext { ReadOnly = true });
        var got = new byte[8192];
        img.Read(0, got);
        Assert.Equal(new string('F', 1024) + new string('B', 1024) + new string('F', 1024) + new string('B', 1024) + new string('F', 4096),
            System.Text.Encoding.ASCII.GetString(got));
        Assert.Contains(img.FormatSpecific, kv => kv.Key == "add storage cmd" && kv.Value.Contains("never run"));
        Assert.Contains(img.FormatSpecific, kv => kv.Key == "prefetch" && (kv.Value.StartsWith("starts ") || kv.Value.StartsWith("not started by a VM")));
        Assert.False(File.Exists(marker));
        Assert.Equal("hb.raw", img.BackingFileName);
    }
}
