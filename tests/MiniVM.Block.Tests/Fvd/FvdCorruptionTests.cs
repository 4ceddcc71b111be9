using System.Buffers.Binary;
using System.Text;
using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>
/// Hostile images field by field (fvd.md §5.3): each bad value gives one ImageFormatException naming what is wrong,
/// never another exception, a hang or a huge allocation. The victim is a compact image over a raw base with a 4 KiB
/// bitmap at 8192, table at 12288, journal at 16384 and data from 20480.
/// </summary>
public sealed class FvdCorruptionTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _img;
    private readonly byte[] _pristine;

    public FvdCorruptionTests()
    {
        File.WriteAllBytes(_dir.File("base.raw"), Enumerable.Range(0, 65536).Select(i => (byte)(i * 7)).ToArray());
        _img = _dir.File("victim.fvd");
        var o = ImageCreateOptions.Parse("compact_image=on,chunk_size=4K,block_size=4K,journal_size=4K,storage_grow_unit=16K");
        o.BackingFile = "base.raw";
        using (var img = ImageFormats.Default.Create("fvd", _img, 65536, o))
        {
            img.Write(100, new byte[5000]);
            img.Write(40_000, Enumerable.Range(0, 9000).Select(i => (byte)i).ToArray());
        }
        _pristine = File.ReadAllBytes(_img);
    }

    public void Dispose() => _dir.Dispose();

    private void Put(Action<byte[]> change)
    {
        var b = (byte[])_pristine.Clone();
        change(b);
        File.WriteAllBytes(_img, b);
    }

    private void Put32(int at, int v) => Put(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), v));
    private void Put64(int at, long v) => Put(b => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), v));
    private void PutString(int at, int field, string s) => Put(b => { b.AsSpan(at, field).Clear(); Encoding.ASCII.GetBytes(s, b.AsSpan(at)); });

    /// <summary>Open read-write, read everything, write, flush: the first failure must be an ImageFormatException.</summary>
    private string Fails()
    {
        var e = Assert.Throws<ImageFormatException>(() =>
        {
            using var img = ImageFormats.Default.Open(_img, "fvd");
            img.Read(0, new byte[img.Size]);
            img.Write(0, new byte[1]);
            img.Flush();
        });
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void The_pristine_victim_opens_and_checks_clean()
    {
        using var img = (FvdImage)ImageFormats.Default.Open(_img);
        Assert.True(img.Check().IsClean);
        var got = new byte[9000];
        img.Read(40_000, got);
        Assert.Equal(Enumerable.Range(0, 9000).Select(i => (byte)i).ToArray(), got);
    }

    [Theory]
    [InlineData(0, 0x5143F5A8, "magic")]
    [InlineData(4, 2, "version")]
    [InlineData(8, 2, "all_data_in_fvd_img")]
    [InlineData(1092, 0, "block_size")]
    [InlineData(1092, 1000, "block_size")]
    [InlineData(1092, -512, "block_size")]
    [InlineData(1092, 512, "bitmap_size")] // with bitmap_size set to 0 below
    [InlineData(1096, 7, "copy_on_read")]
    [InlineData(2208, 3, "compact_image")]
    [InlineData(4300, 5, "clean_shutdown")]
    [InlineData(4304, 9, "need_zero_init")]
    public void Int32_fields(int at, int value, string field)
    {
        if (at == 1092 && value == 512)
        {
            Put(b => { BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(1092), 512); BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(1084), 0); });
        }
        else Put32(at, value);
        Assert.Contains(field, Fails());
    }

    [Theory]
    [InlineData(12, 0L, "virtual_disk_size")]
    [InlineData(12, 1000L, "virtual_disk_size")]
    [InlineData(12, -512L, "virtual_disk_size")]
    [InlineData(12, 1L << 62, "virtual_disk_size")]
    [InlineData(20, 100L, "metadata_size")]
    [InlineData(20, 4097L * 4, "metadata_size")]
    [InlineData(20, 8192L, "metadata_size")]
    [InlineData(1068, 0L, "base_img_size")]
    [InlineData(1068, 100L, "base_img_size")]
    [InlineData(1068, 1L << 20, "base_img_size")]
    [InlineData(1076, 0L, "bitmap_offset")]
    [InlineData(1076, 8193L, "bitmap_offset")]
    [InlineData(1076, 1L << 50, "bitmap_offset")]
    [InlineData(1076, 12288L, "overlaps")]
    [InlineData(1084, 0L, "bitmap_size")]
    [InlineData(1084, 1L << 40, "bitmap")]
    [InlineData(2212, 8192L, "overlaps")]
    [InlineData(2212, 1L << 40, "table_offset")]
    [InlineData(2212, -4096L, "table_offset")]
    [InlineData(2220, 0L, "chunk_size")]
    [InlineData(2220, 100L, "chunk_size")]
    [InlineData(2220, 1L << 40, "chunk_size")]
    [InlineData(2228, -1L, "storage_grow_unit")]
    [InlineData(4284, 16385L, "journal_offset")]
    [InlineData(4284, 12288L, "overlaps")]
    [InlineData(4292, 100L, "journal_size")]
    [InlineData(4292, -512L, "journal_size")]
    [InlineData(4292, 1L << 20, "journal")]
    public void Int64_fields(int at, long value, string field)
    {
        Put64(at, value);
        Assert.Contains(field, Fails());
    }

    [Theory]
    [InlineData(28, 1024, "base_img")]
    [InlineData(1052, 16, "base_img_fmt")]
    [InlineData(1108, 1024, "data_file")]
    [InlineData(2132, 16, "data_file_fmt")]
    [InlineData(2236, 2048, "add_storage_cmd")]
    [InlineData(4320, 16, "write_updates_base_img")]
    public void Strings_without_a_terminator(int at, int length, string field)
    {
        Put(b => b.AsSpan(at, length).Fill((byte)'x'));
        Assert.Contains(field, Fails());
    }

    [Theory]
    [InlineData(28, 1024, "../base.raw", "no such file")]
    [InlineData(28, 1024, "/proc/self/environ", "inside /proc")]
    [InlineData(28, 1024, "", "base_img is empty")]
    [InlineData(28, 1024, "nope.raw", "no such file")]
    [InlineData(1052, 16, "bogus", "unknown format 'bogus'")]
    [InlineData(1108, 1024, "/etc/passwd", "not a plain file name")]
    [InlineData(1108, 1024, "missing.raw", "does not exist")]
    [InlineData(1108, 1024, "victim.fvd", "names the image itself")]
    [InlineData(1108, 1024, "base.raw", "names the image itself or its base image")]
    [InlineData(2132, 16, "qcow2", "data_file_fmt")]
    public void Stored_names(int at, int length, string value, string message)
    {
        PutString(at, length, value);
        Assert.Contains(message, Fails());
    }

    [Fact]
    public void A_truncated_file_is_too_short()
    {
        File.WriteAllBytes(_img, _pristine[..100]);
        Assert.Contains("too short", Fails());
        File.WriteAllBytes(_img, _pristine[..12000]);
        Assert.Contains("past the end", Fails());
    }

    [Theory]
    [InlineData(0x7FFFFFFFu, "reserved")]
    [InlineData(0x1000u, "data storage")]
    public void Table_entries(uint entry, string message)
    {
        Put(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12288 + 4 * 3), entry));
        Assert.Contains(message, Fails());
    }

    [Fact]
    public void Data_storage_shorter_than_the_chunks_in_use()
    {
        File.WriteAllBytes(_img, _pristine[..(20480 + 4096)]);
        Assert.Contains("data storage", Fails());
    }
}
