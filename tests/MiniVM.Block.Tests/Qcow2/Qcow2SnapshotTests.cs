namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Snapshots without qemu: content, VM state, and refcounts exact after every step.</summary>
public sealed class Qcow2SnapshotTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void AssertClean(MiniVM.Block.Qcow2.Qcow2Image q)
    {
        var r = q.Check();
        Assert.True(r.IsClean, string.Join("\n", r.Messages.Take(10)));
    }

    [Theory]
    [InlineData("compat=0.10,cluster_size=4K")]
    [InlineData("compat=1.1,cluster_size=512")]
    public void CreateWriteRevertDeleteKeepsRefcountsExact(string options)
    {
        string img = _dir.File("s.qcow2");
        long size = 3 << 20;
        var rnd = new Random(11);
        var states = new List<byte[]>();
        using (var q = Qcow2Fixture.Create(img, size, options))
        {
            for (int round = 0; round < 4; round++)
            {
                for (int i = 0; i < 20; i++)
                {
                    var d = new byte[rnd.Next(1, 100_000)];
                    rnd.NextBytes(d);
                    q.Write(rnd.NextInt64(size - d.Length), d);
                }
                q.WriteZeroes(rnd.NextInt64(size - 70_000), 70_000);
                states.Add(Qcow2Fixture.ReadAll(q));
                var vm = new byte[1000 * (round + 1)];
                Array.Fill(vm, (byte)round);
                q.CreateSnapshot($"r{round}", round * 1000L, s => s.Write(vm));
                AssertClean(q);
            }
            q.RevertToSnapshot("r1");
            Qcow2Fixture.SameBytes(states[1], Qcow2Fixture.ReadAll(q));
            AssertClean(q);
            q.DeleteSnapshot("r0");
            q.DeleteSnapshot("4"); // by id: r3
            AssertClean(q);
            Assert.Equal(["r1", "r2"], q.ListSnapshots().Select(s => s.Name).ToArray());
            using (var vs = q.OpenVmState("r2"))
            {
                Assert.Equal(3000, vs.Length);
                var b = new byte[3000];
                vs.ReadExactly(b);
                Assert.All(b, x => Assert.Equal(2, x));
            }
            q.RevertToSnapshot("r2");
            Qcow2Fixture.SameBytes(states[2], Qcow2Fixture.ReadAll(q));
            q.DeleteSnapshot("r1");
            q.DeleteSnapshot("r2");
            AssertClean(q);
            Assert.Empty(q.ListSnapshots());
        }
        using var again = Qcow2Fixture.Open(img);
        Qcow2Fixture.SameBytes(states[2], Qcow2Fixture.ReadAll(again));
        AssertClean(again);
    }

    [Fact]
    public void SnapshotIdsFollowQemuAndLookupPrefersIds()
    {
        using var q = Qcow2Fixture.Create(_dir.File("ids.qcow2"), 1 << 20, "cluster_size=4K");
        q.CreateSnapshot("2");
        q.CreateSnapshot("a");
        Assert.Equal(["1", "2"], q.ListSnapshots().Select(s => s.Id).ToArray());
        q.DeleteSnapshot("2"); // id 2 ("a"), not the snapshot named "2"
        Assert.Equal("2", Assert.Single(q.ListSnapshots()).Name);
        Assert.Contains("no snapshot", Assert.Throws<ImageFormatException>(() => q.RevertToSnapshot("zz")).Message);
        Assert.Contains("no VM state", Assert.Throws<ImageFormatException>(() => q.OpenVmState("1")).Message);
    }
}
