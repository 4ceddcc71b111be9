using MiniVM.Block;

namespace MiniVM.Machine.Configuration;

/// <summary>
/// Host files the configuration names and that are read whole (firmware images, the configuration file itself):
/// only a regular file of bounded size is read, so /dev/zero, a FIFO or a huge file is one line naming the key,
/// not a hang or gigabytes of memory.
/// </summary>
public static class HostInput
{
    /// <summary>Reads <paramref name="path"/> whole; <paramref name="key"/> names it in errors ("firmware.bios").</summary>
    public static byte[] ReadAll(string path, string key, int maxBytes)
    {
        Check(path, key, maxBytes);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var buffer = new byte[Math.Min(stream.Length, maxBytes)];
        int n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (stream.ReadByte() >= 0) throw TooLarge(path, key, maxBytes); // grew while being read
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Refuses what <see cref="ReadAll"/> would refuse, without reading: a non-regular or too large file.</summary>
    public static void Check(string path, string key, long maxBytes)
    {
        var (kind, length) = HostFiles.Inspect(path);
        if (kind == HostFileKind.Missing) throw new VmConfigException($"config: {key} '{path}' not found");
        if (HostFiles.NotRegularReason(path) is { } why) throw new VmConfigException($"config: {key} '{path}' {why}");
        if (length > maxBytes) throw TooLarge(path, key, maxBytes);
    }

    private static VmConfigException TooLarge(string path, string key, long maxBytes) =>
        new($"config: {key} '{path}' is larger than {Describe(maxBytes)}, the most it may be");

    private static string Describe(long bytes) =>
        bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB" : bytes % 1024 == 0 ? $"{bytes >> 10} KiB" : $"{bytes} bytes";
}
