using System.IO.Compression;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>The guest images in ../shared/guests beside the repository (never copied into it).</summary>
internal static class SharedGuests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MiniVM.sln"))) dir = dir.Parent;
        if (dir is null) throw new DirectoryNotFoundException("MiniVM.sln not found above " + AppContext.BaseDirectory);
        return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "guests"));
    }

    public static byte[] Read(string name)
    {
        string path = Path.Combine(Root, name);
        if (!name.EndsWith(".gz", StringComparison.Ordinal)) return File.ReadAllBytes(path);
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }
}
