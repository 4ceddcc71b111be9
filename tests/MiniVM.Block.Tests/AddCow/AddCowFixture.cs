using System.Text;
using MiniVM.Block.AddCow;

namespace MiniVM.Block.Tests.AddCow;

/// <summary>Builds add-cow file sets for the tests: headers byte by byte from add-cow.md §2.1, and images through the registry.</summary>
internal static class AddCowFixture
{
    public const int Cluster = 65536;

    /// <summary>A v8 header written by hand (not by AddCowHeader): magic, version 1, two NUL-padded names, 500 zero bytes.</summary>
    public static byte[] HeaderBytes(string backing, string image)
    {
        var h = new byte[2560];
        byte[] magic = [0x41, 0x44, 0x44, 0x5F, 0x43, 0x4F, 0x57, 0xFF];
        magic.CopyTo(h, 0);
        h[8] = 0; h[9] = 0; h[10] = 0; h[11] = 1;
        Encoding.UTF8.GetBytes(backing).CopyTo(h, 12);
        Encoding.UTF8.GetBytes(image).CopyTo(h, 1036);
        return h;
    }

    /// <summary>Writes an add-cow file by hand with a bitmap of <paramref name="bitmap"/> bytes and a raw file of <paramref name="rawSize"/>.</summary>
    public static string WriteByHand(TempDir dir, byte[] header, byte[] bitmap, long rawSize, string name = "d.add-cow", string raw = "d.raw")
    {
        string path = dir.File(name);
        File.WriteAllBytes(path, [.. header, .. bitmap]);
        if (rawSize >= 0)
            using (var f = new FileStream(dir.File(raw), FileMode.Create)) f.SetLength(rawSize);
        return path;
    }

    public static void Fill(Span<byte> data, int seed) => new Random(seed).NextBytes(data);

    /// <summary>A backing file of <paramref name="format"/> ("raw" or "qcow2") filled with seeded data; returns its content.</summary>
    public static byte[] CreateBacking(TempDir dir, string name, string format, long size, int seed)
    {
        var content = new byte[size];
        Fill(content, seed);
        using var b = ImageFormats.Default.Create(format, dir.File(name), size, new ImageCreateOptions());
        b.Write(0, content);
        return content;
    }

    public static AddCowImage Create(TempDir dir, long size, string backing = "base.img", string image = "d.raw", string name = "d.add-cow",
        string? backingFmt = null)
    {
        var o = new ImageCreateOptions { BackingFile = backing, BackingFormat = backingFmt };
        o.Values["image_file"] = image;
        return (AddCowImage)ImageFormats.Default.Create("add-cow", dir.File(name), size, o);
    }

    public static AddCowImage Open(string path, bool readOnly = false, bool allowUnsafe = false) =>
        (AddCowImage)ImageFormats.Default.Open(path, "add-cow", new ImageOpenContext { ReadOnly = readOnly, AllowUnsafePaths = allowUnsafe });

    public static byte[] ReadAll(IBlockDriver d)
    {
        var all = new byte[d.Size];
        d.Read(0, all);
        return all;
    }

    /// <summary>The bitmap as stored in the add-cow file (the file is read after the image is closed).</summary>
    public static byte[] StoredBitmap(string path) => File.ReadAllBytes(path)[2560..];
}
