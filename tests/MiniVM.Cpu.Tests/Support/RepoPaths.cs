namespace MiniVM.Cpu.Tests.Support;

/// <summary>Locates the repository root (the folder holding MiniVM.sln) and the shared reference data beside it.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MiniVM.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("MiniVM.sln not found above " + AppContext.BaseDirectory);
    }
}
