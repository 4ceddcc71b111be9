using System.Buffers.Binary;

namespace MiniVM.Cli.Tests;

/// <summary>
/// Issue 11 item 9: a v3 snapshot entry with extra_data_size = 2 (qemu-img needs 16: vm_state_size_large and
/// disk_size) is a corruption for both tools, with qemu-img's message, and `-r all` repairs it.
/// </summary>
public sealed class Qcow2IncompleteSnapshotTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Rewrites snapshot entry 0 in place with only the first two bytes of its extra data.</summary>
    private static void ShrinkExtraData(string image)
    {
        using var fs = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        var header = new byte[72];
        fs.ReadExactly(header);
        long table = (long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(64));
        var entry = new byte[1024];
        fs.Position = table;
        fs.ReadExactly(entry);
        int idLen = BinaryPrimitives.ReadUInt16BigEndian(entry.AsSpan(12));
        int nameLen = BinaryPrimitives.ReadUInt16BigEndian(entry.AsSpan(14));
        int extra = (int)BinaryPrimitives.ReadUInt32BigEndian(entry.AsSpan(36));
        Assert.True(extra >= 16, $"minivm wrote {extra} bytes of extra data");
        var shrunk = new byte[1024];
        entry.AsSpan(0, 40).CopyTo(shrunk);
        BinaryPrimitives.WriteUInt32BigEndian(shrunk.AsSpan(36), 2);
        entry.AsSpan(40, 2).CopyTo(shrunk.AsSpan(40));
        entry.AsSpan(40 + extra, idLen + nameLen).CopyTo(shrunk.AsSpan(42));
        fs.Position = table;
        fs.Write(shrunk);
    }

    [Fact]
    public void An_entry_with_two_bytes_of_extra_data_is_incomplete_for_both_tools_and_repaired()
    {
        string img = _dir.File("s.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", img, "1M").AssertSuccess();
        CliResult.Run("img", "snapshot", "-c", "s1", img).AssertSuccess();
        ShrinkExtraData(img);

        var qemu = QemuImg.Run("qemu-img", "check", img);
        Assert.Equal(2, qemu.ExitCode);
        Assert.Contains("ERROR snapshot table entry 0 is incomplete", qemu.Err);

        var mine = CliResult.Run("img", "check", img);
        Assert.Equal(2, mine.ExitCode);
        Assert.Contains("ERROR snapshot table entry 0 is incomplete", mine.Out);

        Assert.Equal(0, CliResult.Run("img", "check", "-r", "all", img).ExitCode);
        Assert.Equal(0, QemuImg.Run("qemu-img", "check", img).ExitCode);
        Assert.Contains("s1", CliResult.Run("img", "snapshot", "-l", img).Out);
    }
}
