using System.Buffers.Binary;
using MiniVM.Block.Fvd;

namespace MiniVM.Block.Tests.Fvd;

/// <summary>check: a clean image is clean; a chunk used twice is corruption that -r all repairs; an unused chunk id
/// below the highest is a leak; an on-disk DIRTY bit is corruption that -r all writes out.</summary>
public sealed class FvdCheckTests : IDisposable
{
    private const int Table = 8192; // compact, no base: table right after the header
    private readonly TempDir _dir = new();
    private readonly string _img;

    public FvdCheckTests()
    {
        _img = _dir.File("c.fvd");
        using var img = ImageFormats.Default.Create("fvd", _img, 64 * 1024, ImageCreateOptions.Parse("compact_image=on,chunk_size=4K,journal_size=4K,storage_grow_unit=16K"));
        img.Write(0, Fill(4096, 1));      // chunk 0 -> id 0
        img.Write(8192, Fill(4096, 2));   // chunk 2 -> id 1
        img.Write(16384, Fill(4096, 3));  // chunk 4 -> id 2
    }

    public void Dispose() => _dir.Dispose();

    private static byte[] Fill(int n, byte v) { var b = new byte[n]; Array.Fill(b, v); return b; }

    private void SetEntry(int chunk, uint value)
    {
        var b = File.ReadAllBytes(_img);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Table + 4 * chunk), value);
        File.WriteAllBytes(_img, b);
    }

    private uint Entry(int chunk) => BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(_img).AsSpan(Table + 4 * chunk));

    [Fact]
    public void Clean_image_counts_its_chunks()
    {
        using var img = (FvdImage)ImageFormats.Default.Open(_img);
        var r = img.Check();
        Assert.True(r.IsClean, string.Join("; ", r.Messages));
        Assert.Equal(3, r.AllocatedClusters);
        Assert.Equal(16, r.TotalClusters);
    }

    [Fact]
    public void A_chunk_used_twice_is_corruption_and_repair_empties_the_later_user()
    {
        SetEntry(2, 2); // chunk 2 now aliases chunk 4's id; id 1 becomes unused
        using (var img = (FvdImage)ImageFormats.Default.Open(_img))
        {
            var r = img.Check();
            Assert.Equal(1, r.Corruptions);
            Assert.Equal(1, r.Leaks);
            Assert.Contains(r.Messages, m => m.Contains("chunk id 2"));
            var fixedResult = img.Check(RepairMode.All);
            Assert.Equal(1, fixedResult.CorruptionsFixed);
            var chunk4 = new byte[4096];
            img.Read(16384, chunk4);
            Assert.All(chunk4, b => Assert.Equal(0, b));
            var chunk2 = new byte[4096];
            img.Read(8192, chunk2);
            Assert.All(chunk2, b => Assert.Equal(3, b));
        }
        Assert.Equal(0xFFFFFFFFu, Entry(4));
        using var again = (FvdImage)ImageFormats.Default.Open(_img);
        var after = again.Check();
        Assert.Equal(0, after.Corruptions);
        Assert.Equal(1, after.Leaks); // id 1 stays leaked: chunks are never moved
    }

    [Fact]
    public void An_on_disk_dirty_bit_is_corruption_that_repair_writes_out()
    {
        SetEntry(2, 0x80000001);
        using (var img = (FvdImage)ImageFormats.Default.Open(_img))
        {
            var chunk2 = new byte[4096];
            img.Read(8192, chunk2);
            Assert.All(chunk2, b => Assert.Equal(2, b)); // readers mask the bit
            Assert.Equal(1, img.Check().Corruptions);
            Assert.Equal(1, img.Check(RepairMode.All).CorruptionsFixed);
        }
        Assert.Equal(1u, Entry(2));
    }

    [Fact]
    public void Read_only_check_reports_without_repairing()
    {
        SetEntry(4, 1);
        // ids {0, 1, 1}: id 2 is past the highest id in use, so it is free storage, not a leak.
        using var img = (FvdImage)ImageFormats.Default.Open(_img, null, new ImageOpenContext { ReadOnly = true });
        var r = img.Check(RepairMode.All);
        Assert.Equal(1, r.Corruptions);
        Assert.Equal(0, r.CorruptionsFixed);
        Assert.Equal(1u, Entry(4));
    }
}
