using System.Buffers.Binary;
using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// The journal (fvd.md §2.6): the three record forms with their sector-packing edges, replay of an image left by a
/// crash (the files copied while the writer still has them open are exactly what a kill leaves), stale records from an
/// earlier round ignored, bounds-checked replay, and recycling through a tiny journal.
/// </summary>
public sealed class FvdJournalTests : IDisposable
{
    private const int Chunk = 4096;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private FvdImage Create(string name, long size, string options, byte[]? baseBytes = null)
    {
        var o = ImageCreateOptions.Parse(options);
        if (baseBytes is not null)
        {
            File.WriteAllBytes(_dir.File("base.raw"), baseBytes);
            o.BackingFile = "base.raw";
        }
        return (FvdImage)ImageFormats.Default.Create("fvd", _dir.File(name), size, o);
    }

    private static long L64(byte[] b, int at) => BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(at));
    private static uint U32(byte[] b, long at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)at));

    /// <summary>What a kill leaves right now: the image (and its base) copied into a fresh directory.</summary>
    private string CrashCopy(string name)
    {
        string to = Path.Combine(_dir.Path, "crash-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(_dir.Path))
            using (var src = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            using (var dst = File.Create(Path.Combine(to, Path.GetFileName(f))))
                src.CopyTo(dst);
        return Path.Combine(to, name);
    }

    private static byte[] Pattern(int length, int seed)
    {
        var d = new byte[length];
        new Random(seed).NextBytes(d);
        return d;
    }

    [Theory]
    [InlineData(125, 1)]
    [InlineData(126, 2)]
    [InlineData(250, 2)]
    public void Table_only_updates_pack_125_entries_per_sector(int chunks, int sectors)
    {
        using var img = Create("t.fvd", 1024 * Chunk, "compact_image=on,chunk_size=4K");
        img.Write(3 * Chunk, new byte[chunks * Chunk]);
        img.Flush();
        var file = File.ReadAllBytes(CrashCopy("t.fvd"));
        long j = img.Header.JournalOffset;
        for (int s = 0; s < sectors; s++)
        {
            long at = j + s * 512;
            int n = Math.Min(125, chunks - s * 125);
            Assert.Equal(0xB4E6F7ACu, U32(file, at));
            Assert.Equal((uint)(3 + s * 125), U32(file, at + 4));
            Assert.Equal((uint)n, U32(file, at + 8));
            for (int i = 0; i < n; i++) Assert.Equal((uint)(s * 125 + i), U32(file, at + 12 + 4 * i)); // ids in allocation order
            if (n < 125) Assert.Equal(0u, U32(file, at + 12 + 4 * n)); // EMPTY ends a part-filled sector
        }
        Assert.Equal(0u, U32(file, j + sectors * 512));
    }

    [Theory]
    [InlineData(121, 1)]
    [InlineData(122, 2)]
    public void Mixed_updates_pack_121_entries_and_the_bitmap_range_per_sector(int chunks, int sectors)
    {
        long size = 1024L * Chunk;
        using var img = Create("m.fvd", size, "compact_image=on,chunk_size=4K,block_size=512", new byte[size]);
        long off = 5L * Chunk + 1000, len = (long)(chunks - 1) * Chunk; // starts and ends inside a chunk
        Assert.Equal(chunks, (int)((off + len - 1) / Chunk - off / Chunk + 1));
        img.Write(off, new byte[len]);
        img.Flush();
        var file = File.ReadAllBytes(CrashCopy("m.fvd"));
        long j = img.Header.JournalOffset;
        for (int s = 0; s < sectors; s++)
        {
            long at = j + s * 512;
            int n = Math.Min(121, chunks - s * 121);
            Assert.Equal(0xB4E6F7ACu, U32(file, at));
            Assert.Equal((uint)(5 + s * 121), U32(file, at + 4));
            Assert.Equal((uint)n, U32(file, at + 8));
            long b = at + 12 + 4 * n;
            Assert.Equal(0x3F2AB8EDu, U32(file, b));
            long from = s == 0 ? off / 512 : (5 + s * 121) * (Chunk / 512);
            long to = s == sectors - 1 ? (off + len + 511) / 512 : (5 + (s + 1) * 121) * (Chunk / 512);
            Assert.Equal(from, L64(file, (int)b + 8));
            Assert.Equal((uint)(to - from), U32(file, b + 4));
        }
    }

    [Fact]
    public void A_write_over_the_base_journals_one_bitmap_sector()
    {
        using var img = Create("b.fvd", 64 * 1024, "block_size=4K", Pattern(64 * 1024, 1));
        img.Write(5000, new byte[3000]);
        img.Flush();
        var file = File.ReadAllBytes(CrashCopy("b.fvd"));
        long j = img.Header.JournalOffset;
        Assert.Equal(0x3F2AB8EDu, U32(file, j));
        Assert.Equal(5000 / 512, L64(file, (int)j + 8));
        Assert.Equal((uint)((8000 + 511) / 512 - 5000 / 512), U32(file, j + 4));
        Assert.Equal(0u, U32(file, j + 16));
        Assert.Equal(0u, U32(file, j + 512));
        // A second write to the same blocks changes no metadata and journals nothing.
        img.Write(6000, new byte[100]);
        img.Flush();
        Assert.Equal(0u, U32(File.ReadAllBytes(CrashCopy("b.fvd")), j + 512));
    }

    [Fact]
    public void Killed_before_the_table_update_the_journal_replays_and_the_data_is_there()
    {
        var baseBytes = Pattern(256 * 1024, 2);
        var shadow = (byte[])baseBytes.Clone();
        string crashed;
        long tableOffset, journalOffset;
        using (var img = Create("c.fvd", 256 * 1024, "compact_image=on,chunk_size=4K,block_size=1K", baseBytes))
        {
            var d = Pattern(20_000, 3);
            img.Write(10_000, d);
            d.CopyTo(shadow, 10_000);
            img.WriteZeroes(100_000, 9000);
            Array.Clear(shadow, 100_000, 9000);
            img.Flush();
            crashed = CrashCopy("c.fvd");
            tableOffset = img.Header.TableOffset;
            journalOffset = img.Header.JournalOffset;
        }
        var before = File.ReadAllBytes(crashed);
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(before.AsSpan(4300))); // not shut down cleanly
        Assert.All(before.AsSpan((int)tableOffset, 256).ToArray(), b => Assert.Equal(0xFF, b)); // table never written
        Assert.Equal(0xB4E6F7ACu, U32(before, journalOffset));

        using (var ro = (FvdImage)ImageFormats.Default.Open(crashed, null, new ImageOpenContext { ReadOnly = true }))
        {
            // Read-only: replayed in memory only (fvd.md §5.4 item 13), the file is left alone.
            var got = new byte[shadow.Length];
            ro.Read(0, got);
            Assert.True(got.AsSpan().SequenceEqual(shadow));
            Assert.True(ro.ReplayedSectors > 0);
        }
        Assert.Equal(before, File.ReadAllBytes(crashed));

        using (var rw = (FvdImage)ImageFormats.Default.Open(crashed))
        {
            var got = new byte[shadow.Length];
            rw.Read(0, got);
            Assert.True(got.AsSpan().SequenceEqual(shadow));
            Assert.True(rw.Check().IsClean);
        }
        var after = File.ReadAllBytes(crashed);
        Assert.NotEqual(0xFFFFFFFFu, U32(after, tableOffset + 4 * (10_000 / Chunk))); // replay wrote the table back
        Assert.All(after.AsSpan((int)journalOffset, 4096).ToArray(), b => Assert.Equal(0, b)); // and zeroed the journal
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(after.AsSpan(4300)));
    }

    [Fact]
    public void Records_after_the_first_empty_sector_are_stale_and_ignored()
    {
        var baseBytes = Pattern(64 * 1024, 4);
        string crashed;
        long journal;
        using (var img = Create("s.fvd", 64 * 1024, "compact_image=on,chunk_size=4K,block_size=4K", baseBytes))
        {
            img.Write(0, Pattern(4096, 5));
            img.Flush();
            crashed = CrashCopy("s.fvd");
            journal = img.Header.JournalOffset;
        }
        using (var f = new FileStream(crashed, FileMode.Open, FileAccess.ReadWrite))
        {
            // Sector 1 is empty, so sectors 3 and 4 are from an earlier round: one maps chunk 5 onto chunk 0's id
            // (which would alias them), the other claims block 7 is in the image (which would hide the base).
            f.Position = journal + 3 * 512; f.Write(FvdBytes.TableSector(5, 0));
            f.Position = journal + 4 * 512; f.Write(FvdBytes.BitmapSector(7 * 8, 8));
        }
        using (var img = (FvdImage)ImageFormats.Default.Open(crashed))
        {
            Assert.Equal(1, img.ReplayedSectors);
            var got = new byte[64 * 1024];
            img.Read(0, got);
            var expected = (byte[])baseBytes.Clone();
            Pattern(4096, 5).CopyTo(expected, 0);
            Assert.True(got.AsSpan().SequenceEqual(expected));
            Assert.True(img.Check().IsClean);
        }
        // The rw open zeroed every used journal sector, stale ones included.
        var after = File.ReadAllBytes(crashed);
        Assert.All(after.AsSpan((int)journal, 8 * 512).ToArray(), b => Assert.Equal(0, b));
    }

    /// <summary>
    /// A record of a zero-write lists its chunks that stay EMPTY; if a checkpoint then assigned one of them and the kill
    /// came before the journal was zeroed, replay meets EMPTY over an assigned entry, which must not undo it.
    /// </summary>
    [Fact]
    public void Empty_entries_in_a_record_never_undo_an_assignment()
    {
        string crashed;
        long journal;
        using (var img = Create("e.fvd", 64 * 1024, "compact_image=on,chunk_size=4K,journal_size=4K,storage_grow_unit=16K"))
        {
            img.Write(0, Pattern(8192, 8)); // chunks 0 and 1, checkpointed at close
        }
        using (var img = (FvdImage)ImageFormats.Default.Open(_dir.File("e.fvd")))
        {
            img.Write(12288, Pattern(100, 9)); // chunk 3
            img.Flush();
            crashed = CrashCopy("e.fvd");
            journal = img.Header.JournalOffset;
        }
        using (var f = new FileStream(crashed, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = journal + 512;
            f.Write(FvdBytes.TableSector(0, 0xFFFFFFFF, 1, 0xFFFFFFFF));
        }
        using var reopened = ImageFormats.Default.Open(crashed);
        var got = new byte[8192];
        reopened.Read(0, got);
        Assert.Equal(Pattern(8192, 8), got);
    }

    [Theory]
    [InlineData("bitmap-past-disk", "outside")]
    [InlineData("table-past-table", "outside")]
    [InlineData("table-count-overruns", "overruns")]
    [InlineData("table-reassigns", "journal is corrupt")]
    [InlineData("table-reserved-id", "journal is corrupt")]
    public void Replay_rejects_records_that_do_not_fit_the_image(string damage, string message)
    {
        string crashed;
        long journal;
        using (var img = Create("r.fvd", 64 * 1024, "compact_image=on,chunk_size=4K,block_size=4K", Pattern(64 * 1024, 6)))
        {
            img.Write(0, new byte[4096]);
            img.Flush();
            crashed = CrashCopy("r.fvd");
            journal = img.Header.JournalOffset;
        }
        byte[] sector = damage switch
        {
            "bitmap-past-disk" => FvdBytes.BitmapSector(120, 16),
            "table-past-table" => FvdBytes.TableSector(15, 3, 4),
            "table-count-overruns" => FvdBytes.TableSector(0, 0),
            "table-reassigns" => FvdBytes.TableSector(0, 9),
            _ => FvdBytes.TableSector(1, 0x7FFFFFFF),
        };
        if (damage == "table-count-overruns") BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(8), 126);
        using (var f = new FileStream(crashed, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = journal + 512;
            f.Write(sector);
        }
        var e = Assert.Throws<ImageFormatException>(() => ImageFormats.Default.Open(crashed).Dispose());
        Assert.Contains("journal sector 1", e.Message);
        Assert.Contains(message, e.Message);
    }

    /// <summary>
    /// A 4 KiB journal (8 sectors) fills after a few flushes and is recycled through checkpoints; a crash copy after any
    /// flush reopens to exactly the flushed content.
    /// </summary>
    [Theory]
    [InlineData("compact_image=on,chunk_size=4K,storage_grow_unit=16K,journal_size=4K", true)]
    [InlineData("block_size=512,journal_size=4K", true)]
    [InlineData("compact_image=on,chunk_size=4K,storage_grow_unit=16K,journal_size=-1", true)]
    [InlineData("compact_image=on,chunk_size=4K,storage_grow_unit=16K,journal_size=64K,copy_on_read=on", true)]
    public void Crash_copies_after_every_flush_reopen_to_the_flushed_content(string options, bool withBase)
    {
        const int Size = 128 * 1024;
        var rng = new Random(options.Length);
        var baseBytes = withBase ? Pattern(Size - 3000, 7) : null;
        var shadow = new byte[Size];
        baseBytes?.CopyTo(shadow, 0);
        using var img = Create("k.fvd", Size, options, baseBytes);
        for (int round = 0; round < 40; round++)
        {
            for (int w = rng.Next(1, 6); w > 0; w--)
            {
                int off = rng.Next(Size), len = Math.Min(Size - off, rng.Next(1, 9000));
                if (rng.Next(3) == 0) img.Read(off, new byte[len]); // copy-on-read, when on
                var d = Pattern(len, rng.Next());
                img.Write(off, d);
                d.CopyTo(shadow, off);
            }
            img.Flush();
            using var copy = ImageFormats.Default.Open(CrashCopy("k.fvd"));
            var got = new byte[Size];
            copy.Read(0, got);
            int same = got.AsSpan().CommonPrefixLength(shadow);
            Assert.True(same == Size, $"round {round}: byte {same} differs after the crash copy");
        }
    }
}
