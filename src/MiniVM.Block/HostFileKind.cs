using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MiniVM.Block;

/// <summary>What a path names on the host, asked before opening it: opening a FIFO blocks until a writer appears,
/// and a device such as /dev/zero never ends, so anything read whole or probed must be a regular file.</summary>
public enum HostFileKind { Missing, Regular, Directory, Fifo, CharacterDevice, BlockDevice, Socket, Other }

/// <summary>Looks up <see cref="HostFileKind"/> and size of a path with statx(2) (symbolic links followed), whose
/// buffer layout is the same on every Linux architecture; elsewhere it answers from the portable .NET calls.</summary>
public static partial class HostFiles
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxSize = 0x200;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    /// <summary>The kind of <paramref name="path"/> and, for a regular file, its length in bytes.</summary>
    public static (HostFileKind Kind, long Length) Inspect(string path)
    {
        if (string.IsNullOrEmpty(path)) return (HostFileKind.Missing, 0);
        if (OperatingSystem.IsLinux())
        {
            Span<byte> buffer = stackalloc byte[256];
            if (Statx(AtFdCwd, path, 0, StatxType | StatxSize, buffer) == 0)
            {
                // struct statx: stx_mode (u16) at 28, stx_size (u64) at 40.
                int type = BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]) & 0xF000;
                long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(buffer[40..]);
                var kind = type switch
                {
                    0x8000 => HostFileKind.Regular,
                    0x4000 => HostFileKind.Directory,
                    0x1000 => HostFileKind.Fifo,
                    0x2000 => HostFileKind.CharacterDevice,
                    0x6000 => HostFileKind.BlockDevice,
                    0xC000 => HostFileKind.Socket,
                    _ => HostFileKind.Other,
                };
                return (kind, kind == HostFileKind.Regular ? size : 0);
            }
            if (Marshal.GetLastPInvokeError() is 2 or 20) return (HostFileKind.Missing, 0); // ENOENT, ENOTDIR
            // Anything else (EACCES, ENOSYS, ...): the portable answer below; opening the file will say what is wrong.
        }
        if (Directory.Exists(path)) return (HostFileKind.Directory, 0);
        return File.Exists(path) ? (HostFileKind.Regular, new FileInfo(path).Length) : (HostFileKind.Missing, 0);
    }

    /// <summary>
    /// Why <paramref name="path"/> cannot be used where a regular file is needed ("is a FIFO, not a regular file"),
    /// or null when it is one. A missing file is left to the caller's own "not found" message.
    /// </summary>
    public static string? NotRegularReason(string path) => Inspect(path).Kind switch
    {
        HostFileKind.Regular or HostFileKind.Missing => null,
        HostFileKind.Directory => "is a directory, not a regular file",
        HostFileKind.Fifo => "is a FIFO, not a regular file",
        HostFileKind.CharacterDevice => "is a character device, not a regular file",
        HostFileKind.BlockDevice => "is a block device, not a regular file",
        HostFileKind.Socket => "is a socket, not a regular file",
        _ => "is not a regular file",
    };
}
