namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Internal snapshots and VM state, both directions with real qemu-img.</summary>
[Trait("Category", "Interop")]
public sealed class Qcow2InteropSnapshotTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("0.10")]
    [InlineData("1.1")]
    public void QemuSnapshotsAreListedAndAppliedByUs(string compat)
    {
        string img = _dir.File("q.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", $"compat={compat},cluster_size=4K", img, "2M");
        QemuTools.Io(img, "write -P 0x10 0 200k");
        var atFirst = Qcow2Fixture.QemuView(img, _dir);
        QemuTools.Img("snapshot", "-c", "first", img);
        QemuTools.Io(img, "write -P 0x20 100k 300k", "write -z 0 8k");
        var atSecond = Qcow2Fixture.QemuView(img, _dir);
        QemuTools.Img("snapshot", "-c", "second", img);
        QemuTools.Io(img, "write -P 0x30 0 1m");

        using (var q = Qcow2Fixture.Open(img))
        {
            var list = q.ListSnapshots();
            Assert.Equal(["first", "second"], list.Select(s => s.Name).ToArray());
            Assert.Equal(["1", "2"], list.Select(s => s.Id).ToArray());
            q.RevertToSnapshot("first");
            Qcow2Fixture.SameBytes(atFirst, Qcow2Fixture.ReadAll(q));
            q.Write(0, new byte[] { 9 });
            atFirst[0] = 9;
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        Qcow2Fixture.SameBytes(atFirst, Qcow2Fixture.QemuView(img, _dir));
        using (var q = Qcow2Fixture.Open(img))
        {
            q.DeleteSnapshot("first");
            q.RevertToSnapshot("2");
            Qcow2Fixture.SameBytes(atSecond, Qcow2Fixture.ReadAll(q));
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        var listing = QemuTools.Img("snapshot", "-l", img).Stdout;
        Assert.DoesNotContain("first", listing);
        Assert.Contains("second", listing);
    }

    [Theory]
    [InlineData("0.10")]
    [InlineData("1.1")]
    public void OurSnapshotsAreListedAndAppliedByQemu(string compat)
    {
        string img = _dir.File("ours.qcow2");
        var a = new byte[500_000];
        Qcow2Fixture.Fill(a, 5);
        byte[] atSnap;
        var vmState = new byte[200_000];
        Qcow2Fixture.Fill(vmState, 6);
        using (var q = Qcow2Fixture.Create(img, 1L << 20, $"compat={compat},cluster_size=4K"))
        {
            q.Write(1000, a);
            atSnap = Qcow2Fixture.ReadAll(q);
            var info = q.CreateSnapshot("mine", 123_456_789, s => s.Write(vmState));
            Assert.Equal(vmState.Length, info.VmStateSize);
            q.Write(0, new byte[300_000]);
            using var vs = q.OpenVmState("mine");
            var back = new byte[vmState.Length];
            vs.ReadExactly(back);
            Qcow2Fixture.SameBytes(vmState, back);
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        var listing = QemuTools.Img("snapshot", "-l", img).Stdout;
        Assert.Contains("mine", listing);
        Assert.Contains("195 KiB", listing); // VM SIZE column: 200000 bytes
        QemuTools.Img("snapshot", "-a", "mine", img);
        Qcow2Fixture.SameBytes(atSnap, Qcow2Fixture.QemuView(img, _dir));
        Qcow2Fixture.AssertQemuCheckClean(img);
        QemuTools.Img("snapshot", "-d", "mine", img);
        Qcow2Fixture.AssertQemuCheckClean(img);
        using var again = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Empty(again.ListSnapshots());
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void RevertingToASnapshotTakenAtAnotherSizeRestoresThatSize()
    {
        string img = _dir.File("rs.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4K", img, "1M");
        QemuTools.Io(img, "write -P 0x21 0 1m");
        var small = Qcow2Fixture.QemuView(img, _dir);
        QemuTools.Img("snapshot", "-c", "small", img);
        QemuTools.Img("resize", "-q", img, "3M");
        QemuTools.Io(img, "write -P 0x22 2m 512k");
        using (var q = Qcow2Fixture.Open(img))
        {
            Assert.Equal(3L << 20, q.Size);
            q.CreateSnapshot("big");
            q.RevertToSnapshot("small");
            Assert.Equal(1L << 20, q.Size);
            Qcow2Fixture.SameBytes(small, Qcow2Fixture.ReadAll(q));
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        Assert.Contains("virtual size: 1 MiB", QemuTools.Img("info", img).Stdout);
        QemuTools.Img("snapshot", "-a", "big", img);
        using var again = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Equal(3L << 20, again.Size);
        var buf = new byte[1];
        again.Read((2L << 20) + 10, buf);
        Assert.Equal(0x22, buf[0]);
    }

    [Fact]
    public void OldSnapshotEntriesWithoutExtraDataAreCountedAsStored()
    {
        // Pre-v3 writers stored no extra data: such a table is shorter than the one we write for the same snapshots,
        // here by a whole 512-byte cluster, and only the stored size may be counted or freed.
        string img = _dir.File("old.qcow2");
        string name = new('n', 460);
        using (var q = Qcow2Fixture.Create(img, 1 << 20, "compat=0.10,cluster_size=512"))
        {
            q.Write(0, new byte[5000]);
            q.CreateSnapshot(name);
        }
        var b = File.ReadAllBytes(img);
        var h = MiniVM.Block.Qcow2.Qcow2Header.Parse(b.AsSpan(0, 512), b.Length, img);
        int sn = (int)h.SnapshotsOffset;
        int extra = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(sn + 36));
        Assert.Equal(24, extra);
        var tail = b.AsSpan(sn + 40 + extra, 1 + name.Length).ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(sn + 36), 0);
        tail.CopyTo(b, sn + 40);
        Array.Clear(b, sn + 40 + tail.Length, 1024 - 40 - tail.Length);
        File.WriteAllBytes(img, b);
        QemuTools.Run(QemuTools.QemuImg, "check", "-r", "leaks", img); // the table's second cluster is now unused
        Qcow2Fixture.AssertQemuCheckClean(img);
        using (var q = Qcow2Fixture.Open(img))
        {
            Assert.Equal(name, Assert.Single(q.ListSnapshots()).Name);
            var r = q.Check();
            Assert.True(r.IsClean, string.Join("\n", r.Messages));
            q.CreateSnapshot("second");
            q.DeleteSnapshot(name);
            Assert.True(q.Check().IsClean);
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
    }

    [Theory]
    [InlineData("1.1", "4K")]
    [InlineData("0.10", "512")]
    public void OurResizeShrinksAndGrowsAsQemuSeesIt(string compat, string clusterSize)
    {
        string img = _dir.File("rz.qcow2");
        var data = new byte[3 << 20];
        Qcow2Fixture.Fill(data, 9);
        using (var q = Qcow2Fixture.Create(img, 3 << 20, $"compat={compat},cluster_size={clusterSize}"))
        {
            q.Write(0, data);
            q.Resize(1_000_448);          // not cluster-aligned: the tail of the last cluster must not come back
            q.Resize(5 << 20);
            Assert.Equal(5L << 20, q.Size);
            Assert.True(q.Check().IsClean);
            Assert.Contains("multiple of 512", Assert.Throws<ImageFormatException>(() => q.Resize(1000)).Message);
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        var expected = new byte[5 << 20];
        Array.Copy(data, expected, 1_000_448);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.QemuView(img, _dir));
        Assert.Contains("virtual size: 5 MiB", QemuTools.Img("info", img).Stdout);
    }

    [Fact]
    public void ResizeWithSnapshotsFollowsQemu()
    {
        string v2 = _dir.File("v2.qcow2"), v3 = _dir.File("v3.qcow2");
        using (var q = Qcow2Fixture.Create(v2, 1 << 20, "compat=0.10"))
        {
            q.CreateSnapshot("s");
            Assert.Contains("version 2", Assert.Throws<ImageFormatException>(() => q.Resize(2 << 20)).Message);
        }
        var data = new byte[1 << 20];
        Qcow2Fixture.Fill(data, 10);
        using (var q = Qcow2Fixture.Create(v3, 1 << 20, "cluster_size=4K"))
        {
            q.Write(0, data);
            q.CreateSnapshot("s");
            q.Resize(512 << 10);
            q.Resize(2 << 20);
            q.RevertToSnapshot("s");
            Assert.Equal(1L << 20, q.Size);
            Qcow2Fixture.SameBytes(data, Qcow2Fixture.ReadAll(q));
        }
        Qcow2Fixture.AssertQemuCheckClean(v3);
    }

    [Fact]
    public void VmStateLivesWhereQemuLooksForIt()
    {
        // QEMU's loadvm reads the VM state through the active tree after goto, at qcow2_vm_state_offset: the disk
        // size rounded up to one L2 table's reach. qemu-img shows that range once it applies our snapshot and the
        // disk is grown over it (growing does not zero the new area).
        string img = _dir.File("vm.qcow2");
        var vmState = new byte[70_000];
        Qcow2Fixture.Fill(vmState, 8);
        long vmOffset;
        using (var q = Qcow2Fixture.Create(img, 1_000_000, "cluster_size=4K"))
        {
            vmOffset = q.VmStateOffset;
            Assert.Equal(2L << 20, vmOffset); // 4K clusters: one L2 table maps 2 MiB
            q.CreateSnapshot("s", 0, s => s.Write(vmState));
        }
        QemuTools.Img("snapshot", "-a", "s", img);
        using (var after = Qcow2Fixture.Open(img, readOnly: true))
        {
            using var st = after.OpenVmState("s");
            var back = new byte[vmState.Length];
            st.ReadExactly(back);
            Qcow2Fixture.SameBytes(vmState, back);
        }
        QemuTools.Img("resize", "-q", "-f", "qcow2", img, "4M");
        var view = Qcow2Fixture.QemuView(img, _dir);
        Qcow2Fixture.SameBytes(vmState, view.AsSpan((int)vmOffset, vmState.Length).ToArray());
    }
}
