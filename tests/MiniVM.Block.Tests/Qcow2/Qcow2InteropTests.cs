using System.Text;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Both directions against real qemu-img/qemu-io (qcow3.md §4.1 acceptance criteria).</summary>
[Trait("Category", "Interop")]
public sealed class Qcow2InteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("0.10", "512")]
    [InlineData("1.1", "512")]
    [InlineData("0.10", "4K")]
    [InlineData("1.1", "64K")]
    [InlineData("0.10", "64K")]
    [InlineData("1.1", "2M")]
    public void QemuMadeImageReadsLikeQemuSeesIt(string compat, string clusterSize)
    {
        string img = _dir.File("q.qcow2");
        QemuTools.Img("create", "-q", "-f", "qcow2", "-o", $"compat={compat},cluster_size={clusterSize}", img, "8M");
        QemuTools.Io(img, "write -P 0xaa 0 64k", "write -P 0x55 1000k 3k", "write -P 0x11 3m 4097",
            "write -z 3m 512", "write -P 0x77 5m 1m", "write -z 5m 128k", "discard 6m 64k", "write -P 0x33 8388096 512");
        var expected = Qcow2Fixture.QemuView(img, _dir);
        using var q = Qcow2Fixture.Open(img, readOnly: true);
        Assert.Equal(8L << 20, q.Size);
        Assert.Equal(compat == "0.10" ? 2 : 3, q.Version);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.ReadAll(q));
        var own = q.Check();
        Assert.True(own.IsClean);
        // The same "allocated/total" figures as qemu-img check prints.
        Assert.Contains($"{own.AllocatedClusters}/{own.TotalClusters} = ", QemuTools.Check(img).Stdout);
    }

    [Theory]
    [InlineData("0.10", 65536)]
    [InlineData("1.1", 65536)]
    [InlineData("1.1", 512)]
    [InlineData("1.1", 2 << 20)]
    public void OurWritesPassQemuCheckAndCompare(string compat, int clusterSize)
    {
        string img = _dir.File("ours.qcow2"), reference = _dir.File("ref.raw");
        long size = 6L << 20;
        var refBytes = new byte[size];
        var rnd = new Random(7);
        using (var q = Qcow2Fixture.Create(img, size, $"compat={compat},cluster_size={clusterSize}"))
        {
            for (int i = 0; i < 200; i++)
            {
                long off = rnd.NextInt64(size - 70000);
                int len = rnd.Next(1, 70000);
                var data = new byte[len];
                rnd.NextBytes(data);
                switch (i % 10)
                {
                    case 7:
                        q.WriteZeroes(off, len);
                        Array.Clear(refBytes, (int)off, len);
                        break;
                    case 9:
                        q.Discard(off, len);
                        Array.Clear(refBytes, (int)off, len);
                        break;
                    default:
                        q.Write(off, data);
                        data.CopyTo(refBytes, off);
                        break;
                }
            }
            q.Flush();
            Qcow2Fixture.SameBytes(refBytes, Qcow2Fixture.ReadAll(q));
            var own = q.Check();
            Assert.True(own.IsClean, string.Join("\n", own.Messages));
        }
        File.WriteAllBytes(reference, refBytes);
        Qcow2Fixture.AssertQemuCheckClean(img);
        var cmp = QemuTools.Run(QemuTools.QemuImg, "compare", "-f", "qcow2", "-F", "raw", img, reference);
        Assert.True(cmp.ExitCode == 0, cmp.All);
        Assert.Contains("Images are identical", cmp.Stdout);
        using var again = Qcow2Fixture.Open(img, readOnly: true);
        Qcow2Fixture.SameBytes(refBytes, Qcow2Fixture.ReadAll(again));
    }
}
