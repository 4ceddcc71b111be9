using System.Buffers.Binary;
using MiniVM.Block.Qcow2;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Our check agrees with qemu-img check on leaks and corruptions, and our repairs satisfy it.</summary>
[Trait("Category", "Interop")]
public sealed class Qcow2CheckTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _img;

    public Qcow2CheckTests()
    {
        _img = _dir.File("c.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4K", _img, "1M");
        QemuTools.Io(_img, "write -P 0x3c 0 40k");
    }

    public void Dispose() => _dir.Dispose();

    private (Qcow2Header H, long Block) Layout()
    {
        var b = File.ReadAllBytes(_img);
        var h = Qcow2Header.Parse(b.AsSpan(0, 4096), b.Length, _img);
        long block = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)h.RefcountTableOffset));
        return (h, block);
    }

    private void SetStoredRefcount(long cluster, ushort value)
    {
        var (_, block) = Layout();
        var b = File.ReadAllBytes(_img);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan((int)(block + cluster * 2)), value);
        File.WriteAllBytes(_img, b);
    }

    [Fact]
    public void LeakIsSeenByBothAndRepairedByUs()
    {
        // Two clusters inside the file that nothing references: grow the file, then count them.
        long beyond = new FileInfo(_img).Length / 4096 + 1;
        using (var f = File.OpenWrite(_img)) f.SetLength((beyond + 3) * 4096);
        SetStoredRefcount(beyond, 1);
        SetStoredRefcount(beyond + 1, 1);
        Assert.Equal(3, QemuTools.Check(_img).ExitCode); // qemu-img: leaks only
        using (var q = Qcow2Fixture.Open(_img))
        {
            var r = q.Check();
            Assert.Equal((2, 0), (r.Leaks, r.Corruptions));
            Assert.Contains(r.Messages, m => m.StartsWith($"Leaked cluster {beyond} "));
            var fixedResult = q.Check(RepairMode.Leaks);
            Assert.Equal(2, fixedResult.LeaksFixed);
            Assert.True(fixedResult.IsClean);
        }
        Qcow2Fixture.AssertQemuCheckClean(_img);
    }

    [Fact]
    public void MissingReferenceIsACorruptionForBothAndRebuildFixesIt()
    {
        var (h, _) = Layout();
        long l2 = h.L1TableOffset / 4096 + 1; // qemu-img puts the first L2 table right after the L1 table
        SetStoredRefcount(l2, 0);
        Assert.Equal(2, QemuTools.Check(_img).ExitCode);
        var before = Qcow2Fixture.QemuView(_img, _dir);
        using (var q = Qcow2Fixture.Open(_img))
        {
            var r = q.Check();
            Assert.True(r.Corruptions >= 1, string.Join("\n", r.Messages));
            Assert.Contains(r.Messages, m => m.Contains($"cluster {l2} refcount=0 reference=1"));
            var leaksOnly = q.Check(RepairMode.Leaks);
            Assert.True(leaksOnly.Corruptions >= 1);
            var all = q.Check(RepairMode.All);
            Assert.True(all.IsClean, string.Join("\n", all.Messages));
            Assert.True(all.CorruptionsFixed >= 1);
        }
        Qcow2Fixture.AssertQemuCheckClean(_img);
        Qcow2Fixture.SameBytes(before, Qcow2Fixture.QemuView(_img, _dir));
    }

    [Fact]
    public void DirtyImageLeftByAnAbortedQemuIsRepairedOnWriteOpen()
    {
        // lazy_refcounts: qemu-io flushes data and L2 but not the refcounts, then aborts with the dirty bit set.
        string img = _dir.File("lazy.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=4K", img, "1M");
        QemuTools.Run(QemuTools.QemuIo, "-f", "qcow2", "-c", "write -P 0x5a 0 64k", "-c", "flush", "-c", "abort", img);
        Assert.Equal(2, QemuTools.Check(img).ExitCode);
        var expected = new byte[1 << 20];
        Array.Fill(expected, (byte)0x5a, 0, 65536);
        using (var ro = Qcow2Fixture.Open(img, readOnly: true))
        {
            Assert.True(ro.IsDirty);
            Qcow2Fixture.SameBytes(expected, Qcow2Fixture.ReadAll(ro));
        }
        using (var rw = Qcow2Fixture.Open(img))
        {
            Assert.True(rw.Check().IsClean);
            rw.Write(65536, new byte[] { 1 });
            expected[65536] = 1;
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.QemuView(img, _dir));
    }

    [Fact]
    public void WrongCopiedFlagIsACorruption()
    {
        var (h, _) = Layout();
        var b = File.ReadAllBytes(_img);
        ulong l1e = BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan((int)h.L1TableOffset));
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan((int)h.L1TableOffset), l1e & ~Qcow2Entry.Copied);
        File.WriteAllBytes(_img, b);
        Assert.Equal(2, QemuTools.Check(_img).ExitCode);
        using (var q = Qcow2Fixture.Open(_img))
        {
            Assert.Contains(q.Check().Messages, m => m.Contains("OFLAG_COPIED"));
            Assert.True(q.Check(RepairMode.All).IsClean);
        }
        Qcow2Fixture.AssertQemuCheckClean(_img);
    }
}
