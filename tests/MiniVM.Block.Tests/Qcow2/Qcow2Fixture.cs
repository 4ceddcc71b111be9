using MiniVM.Block.Qcow2;

namespace MiniVM.Block.Tests.Qcow2;

/// <summary>Opening, reading and comparing images in tests.</summary>
public static class Qcow2Fixture
{
    public static Qcow2Image Open(string path, bool readOnly = false) =>
        (Qcow2Image)ImageFormats.Default.Open(path, "qcow2", new ImageOpenContext { ReadOnly = readOnly });

    public static Qcow2Image Create(string path, long size, string? options = null, string? backing = null, string? backingFmt = null)
    {
        var o = ImageCreateOptions.Parse(options);
        o.BackingFile = backing;
        o.BackingFormat = backingFmt;
        return (Qcow2Image)ImageFormats.Default.Create("qcow2", path, size, o);
    }

    public static byte[] ReadAll(IBlockDriver d)
    {
        var b = new byte[d.Size];
        d.Read(0, b);
        return b;
    }

    /// <summary>What real qemu-img says the guest sees: its conversion to raw.</summary>
    public static byte[] QemuView(string image, TempDir dir)
    {
        string raw = dir.File($"view-{Guid.NewGuid():N}.raw");
        QemuTools.Img("convert", "-O", "raw", image, raw);
        var b = File.ReadAllBytes(raw);
        File.Delete(raw);
        return b;
    }

    /// <summary>Byte equality with the first differing offset in the failure message.</summary>
    public static void SameBytes(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int i = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(i == expected.Length, $"first difference at byte {i}: expected 0x{(i < expected.Length ? expected[i] : 0):X2}, got 0x{(i < actual.Length ? actual[i] : 0):X2}");
    }

    public static void AssertQemuCheckClean(string image)
    {
        var r = QemuTools.Check(image);
        Assert.True(r.ExitCode == 0, $"qemu-img check exited {r.ExitCode}: {r.All}");
        Assert.Contains("No errors were found", r.Stdout);
    }

    public static void Fill(byte[] buf, int seed)
    {
        new Random(seed).NextBytes(buf);
    }
}
