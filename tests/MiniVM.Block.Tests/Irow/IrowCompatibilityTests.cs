using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

/// <summary>Images shaped the way the original patch leaves them (irow.md §4, §6.2): free records, stale irvd data.</summary>
public class IrowCompatibilityTests
{
    /// <summary>
    /// The §4 example after "delvm B": A(root) with the current state and a free record B (deleted, no children),
    /// whose bitmap and irvd still hold stale data.
    /// </summary>
    private static void WriteImageWithFreeRecord(TempDir dir)
    {
        File.WriteAllBytes(dir.File("m.irow"), IrowBytes.Meta(4096, 9, "c.btmp", "", false,
            new IrowBytes.Rec("1", "A", "a.btmp", "a.irvd", "", Children: 1),
            new IrowBytes.Rec("2", "B_del", "b.btmp", "b.irvd", "a.btmp", Deleted: 1),
            new IrowBytes.Rec("0", "current state", "c.btmp", "c.irvd", "a.btmp")));
        File.WriteAllBytes(dir.File("a.btmp"), [0x0F]);
        File.WriteAllBytes(dir.File("a.irvd"), Enumerable.Repeat((byte)0xAA, 4096).ToArray());
        File.WriteAllBytes(dir.File("b.btmp"), [0xFF]);
        File.WriteAllBytes(dir.File("b.irvd"), Enumerable.Repeat((byte)0xEE, 4096).ToArray());
        File.WriteAllBytes(dir.File("c.btmp"), [0x00]);
        File.WriteAllBytes(dir.File("c.irvd"), []);
    }

    private static byte[] Expected()
    {
        var e = new byte[4096];
        Array.Fill(e, (byte)0xAA, 0, 2048);
        return e;
    }

    [Fact]
    public void Snapshot_create_reuses_a_free_record_and_its_stale_data_stays_invisible()
    {
        using var dir = new TempDir();
        WriteImageWithFreeRecord(dir);
        using var img = (IrowImage)ImageFormats.Default.Open(dir.File("m.irow"));
        img.CreateSnapshot("D");
        var b = new byte[4096];
        img.Read(0, b);
        Assert.Equal(Expected(), b);
        img.Write(3000, [1]); // partial write into a reused irvd: copy-up must not pick up 0xEE
        img.Read(0, b);
        var e = Expected();
        e[3000] = 1;
        Assert.Equal(e, b);
        Assert.Equal("b.btmp", img.FormatSpecific.Single(kv => kv.Key == "current btmp").Value);
        Assert.Equal(["A", "D"], img.ListSnapshots().Select(s => s.Name).OrderBy(n => n));
        Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
    }

    [Fact]
    public void Check_reports_a_free_record_as_a_leak_and_repair_drops_it_with_its_files()
    {
        using var dir = new TempDir();
        WriteImageWithFreeRecord(dir);
        using var img = (IrowImage)ImageFormats.Default.Open(dir.File("m.irow"));
        var r = img.Check();
        Assert.Equal(1, r.Leaks);
        Assert.Equal(0, r.Corruptions);
        Assert.Contains(r.Messages, m => m.Contains("B_del", StringComparison.Ordinal));
        var fixedResult = img.Check(RepairMode.Leaks);
        Assert.Equal(1, fixedResult.LeaksFixed);
        Assert.False(File.Exists(dir.File("b.irvd")));
        Assert.True(img.Check().IsClean);
        var b = new byte[4096];
        img.Read(0, b);
        Assert.Equal(Expected(), b);
    }

    [Fact]
    public void Wrong_stored_child_counters_are_recomputed_and_check_repairs_them()
    {
        using var dir = new TempDir();
        WriteImageWithFreeRecord(dir);
        var meta = File.ReadAllBytes(dir.File("m.irow"));
        meta[IrowBytes.HeaderSize + 1176] = 0xFF; // A.nb_children = 255 (LE)
        File.WriteAllBytes(dir.File("m.irow"), meta);
        using var img = (IrowImage)ImageFormats.Default.Open(dir.File("m.irow"));
        var r = img.Check();
        Assert.Equal(1, r.Corruptions);
        Assert.Contains(r.Messages, m => m.Contains("nb_children is 255, the tree says 1", StringComparison.Ordinal));
        Assert.Equal(1, img.Check(RepairMode.All).CorruptionsFixed);
        Assert.Equal(1, File.ReadAllBytes(dir.File("m.irow"))[IrowBytes.HeaderSize + 1176]);
    }
}
