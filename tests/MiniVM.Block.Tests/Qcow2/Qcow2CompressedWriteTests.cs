namespace MiniVM.Block.Tests.Qcow2;

/// <summary>
/// Compressed cluster writes (ICompressedWrites): packed several to a host cluster, counted once per reference,
/// read back by us and by qemu-img, copied out on overwrite and freed on discard; qemu-img check as the referee.
/// </summary>
public sealed class Qcow2CompressedWriteTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Half-entropy bytes (compress to about half) with repeats further back than QEMU's 4 KiB window.</summary>
    private static byte[] Compressible(int length, int seed)
    {
        var block = new byte[5000];
        new Random(seed).NextBytes(block);
        for (int i = 0; i < block.Length; i++) block[i] &= 0x0f;
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = block[i % block.Length];
        return data;
    }

    [Theory]
    [InlineData(4096, 1)]
    [InlineData(65536, 16)]
    [InlineData(65536, 1)]
    [Trait("Category", "Interop")]
    public void CompressedClustersReadBackHereAndInQemu(int clusterSize, int refcountBits)
    {
        string img = _dir.File("c.qcow2");
        long size = 40L * clusterSize + 1536; // a partial last cluster too (sizes are whole sectors)
        var expected = new byte[size];
        using (var q = Qcow2Fixture.Create(img, size, $"cluster_size={clusterSize},refcount_bits={refcountBits}"))
        {
            Assert.Equal(clusterSize, q.CompressionUnit);
            for (long off = 0; off < size; off += clusterSize)
            {
                if (off / clusterSize % 5 == 3) continue; // holes between
                int n = (int)Math.Min(clusterSize, size - off);
                var data = Compressible(n, (int)(off / clusterSize));
                data.CopyTo(expected, off);
                q.WriteCompressed(off, data);
            }
            var r = q.Check();
            Assert.True(r.IsClean, string.Join("; ", r.Messages));
            Assert.True(r.CompressedClusters > 0);
            Qcow2Fixture.SameBytes(expected, Qcow2Fixture.ReadAll(q));
        }
        // With 1-bit refcounts no host cluster can be shared, so only wider refcounts save space.
        if (refcountBits > 1) Assert.True(new FileInfo(img).Length < size * 3 / 4, $"file {new FileInfo(img).Length} bytes for {size} of data");
        Qcow2Fixture.AssertQemuCheckClean(img);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.QemuView(img, _dir));

        // Overwrite part of a compressed cluster, discard another: both leave the shared host clusters counted right.
        using (var q = Qcow2Fixture.Open(img))
        {
            q.Write(clusterSize + 10, new byte[] { 1, 2, 3 });
            q.Discard(2L * clusterSize, clusterSize);
            expected[clusterSize + 10] = 1; expected[clusterSize + 11] = 2; expected[clusterSize + 12] = 3;
            Array.Clear(expected, 2 * clusterSize, clusterSize);
            q.Flush();
            Assert.True(q.Check().IsClean);
        }
        Qcow2Fixture.AssertQemuCheckClean(img);
        Qcow2Fixture.SameBytes(expected, Qcow2Fixture.QemuView(img, _dir));
    }

    [Fact]
    public void IncompressibleClusterIsStoredPlainly()
    {
        string img = _dir.File("plain.qcow2");
        var noise = new byte[65536];
        new Random(5).NextBytes(noise);
        using var q = Qcow2Fixture.Create(img, 1 << 20);
        q.WriteCompressed(65536, noise);
        var r = q.Check();
        Assert.True(r.IsClean);
        Assert.Equal(0, r.CompressedClusters);
        Assert.Equal(1, r.AllocatedClusters);
        var back = new byte[65536];
        q.Read(65536, back);
        Assert.Equal(noise, back);
    }

    [Fact]
    public void CompressedWriteMustCoverAWholeCluster()
    {
        using var q = Qcow2Fixture.Create(_dir.File("x.qcow2"), 1 << 20);
        Assert.Throws<ImageFormatException>(() => q.WriteCompressed(512, new byte[65536]));
        Assert.Throws<ImageFormatException>(() => q.WriteCompressed(0, new byte[4096]));
    }
}
