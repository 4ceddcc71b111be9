using System.Reflection;

namespace MiniVM.Machine.Monitor;

/// <summary>The version `minivm --version` prints: the informational version of the program that runs the machine.</summary>
internal static class MiniVmVersion
{
    public static string Text =>
        (Assembly.GetEntryAssembly() ?? typeof(MiniVmVersion).Assembly).GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? "unknown";
}
