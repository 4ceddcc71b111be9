using System.Runtime.InteropServices;

namespace MiniVM.Machine.Monitor;

/// <summary>The operating system's id of the calling thread (what QEMU's `info cpus` calls thread_id).</summary>
internal static partial class HostThread
{
    public static long CurrentId => OperatingSystem.IsLinux() ? gettid() : Environment.CurrentManagedThreadId;

    [LibraryImport("libc")]
    private static partial int gettid();
}
