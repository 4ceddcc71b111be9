using MiniVM.Block;
using MiniVM.Devices;

namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>
/// A btmp whose VM state is truncated, corrupted or from another machine configuration: loadvm names the problem,
/// and neither the running VM nor the disk changes (issue #6).
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class HostileVmStateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-hostile").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The snapshot's btmp file: the one holding the state stream's magic.</summary>
    private (string File, long Offset) FindState()
    {
        foreach (var f in Directory.GetFiles(_dir))
        {
            byte[] bytes = File.ReadAllBytes(f);
            int at = bytes.AsSpan().IndexOf("MINIVMST"u8);
            if (at >= 0) return (f, at);
        }
        throw new InvalidOperationException("no VM state found in " + _dir);
    }

    /// <summary>Saves s1 early in the boot, runs on, writes a disk sector, damages the state; returns the machine.</summary>
    private SnapshotMachine SaveAndRunOn(Action<string, long> damage)
    {
        using (var first = new SnapshotMachine(_dir))
        {
            first.Run(4_000_000);
            first.Machine.SaveVm("s1");
        }
        var (file, offset) = FindState();
        damage(file, offset);
        var vm = new SnapshotMachine(_dir, create: false);
        vm.Run(2_000_000);
        vm.Machine.Disks[1].Write(4096, Enumerable.Repeat((byte)0xAB, 512).ToArray());
        return vm;
    }

    private static void AssertRefusedUnchanged(SnapshotMachine vm, string expected)
    {
        string hash = vm.Hash();
        var sector = new byte[512];
        var e = Assert.ThrowsAny<Exception>(() => vm.Machine.LoadVm("s1"));
        Assert.True(e is StateFormatException or ImageFormatException, e.ToString());
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), e.Message);
        Assert.Equal(hash, vm.Hash());
        vm.Machine.Disks[1].Read(4096, sector);
        Assert.All(sector, b => Assert.Equal(0xAB, b)); // the disk was not reverted either
    }

    [Fact]
    public void TruncatedStateIsRefused()
    {
        using var vm = SaveAndRunOn((file, offset) =>
        {
            using var f = File.OpenWrite(file);
            f.SetLength(offset + (f.Length - offset) / 2);
        });
        AssertRefusedUnchanged(vm, "shorter than its bitmap plus");
    }

    [Fact]
    public void CorruptedStateIsRefusedByItsChecksum()
    {
        using var vm = SaveAndRunOn((file, offset) =>
        {
            using var f = File.Open(file, FileMode.Open, FileAccess.ReadWrite);
            // A byte in the middle of the stream (device or RAM data): only the checksum can tell.
            long at = offset + (f.Length - offset) * 2 / 3;
            f.Position = at;
            int b = f.ReadByte();
            f.Position = at;
            f.WriteByte((byte)(b ^ 0x5A));
        });
        AssertRefusedUnchanged(vm, "checksum mismatch");
    }

    [Fact]
    public void CorruptedSectionHeaderNamesTheProblem()
    {
        using var vm = SaveAndRunOn((file, offset) =>
        {
            using var f = File.Open(file, FileMode.Open, FileAccess.ReadWrite);
            f.Position = offset + 8;
            f.WriteByte(9); // format version 9
        });
        AssertRefusedUnchanged(vm, "format version 9");
    }

    [Fact]
    public void StateOfThePreviousFormatIsRefusedInOneLine()
    {
        // A stream of format 1 (before fwcfg and the reset control were saved) differs from today's in its header
        // first: the version field right after the magic.
        using var vm = SaveAndRunOn((file, offset) =>
        {
            using var f = File.Open(file, FileMode.Open, FileAccess.ReadWrite);
            f.Position = offset + 8;
            f.Write(BitConverter.GetBytes(1u));
        });
        AssertRefusedUnchanged(vm, "saved by an older MiniVM (state format 1; this one reads format 2 only)");
        var e = Assert.ThrowsAny<Exception>(() => vm.Machine.LoadVm("s1"));
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void StateFromAnotherRamSizeIsRefused()
    {
        using (var first = new SnapshotMachine(_dir, memoryMiB: 64))
        {
            first.Run(4_000_000);
            first.Machine.SaveVm("s1");
        }
        using var vm = new SnapshotMachine(_dir, memoryMiB: 32, create: false);
        vm.Run(2_000_000);
        vm.Machine.Disks[1].Write(4096, Enumerable.Repeat((byte)0xAB, 512).ToArray());
        AssertRefusedUnchanged(vm, "different machine configuration");
    }
}
