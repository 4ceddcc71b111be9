using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Machine.Snapshots;

namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>savevm / loadvm / delvm on a real booted FreeDOS machine (issue #6), in process.</summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class SavevmLoadvmTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-savevm").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Every format with snapshots keeps the VM state in its own place: iROW in the btmp, qcow2 after the disk.</summary>
    [Theory]
    [InlineData("irow")]
    [InlineData("qcow2")]
    public void LoadvmThenTheSameInstructionsGiveTheSameWholeMachineHash(string diskFormat)
    {
        using var vm = new SnapshotMachine(_dir, diskFormat: diskFormat);
        vm.BootToPrompt();
        string atSave = vm.Hash();
        var sectionsAtSave = vm.Machine.SectionHashes();
        var info = vm.Machine.SaveVm("s1");
        Assert.Equal("s1", info.Name);
        Assert.True(info.VmStateSize > 0);
        Assert.Equal(atSave, vm.Hash()); // savevm itself changes nothing

        vm.Machine.Keyboard.TypeText("ver\n"); // the guest does something visible after the snapshot
        vm.Run(30_000_000);
        string after = vm.Hash();
        string screenAfter = vm.Machine.Vga.DumpText();
        Assert.NotEqual(atSave, after);

        vm.Machine.LoadVm("s1");
        Assert.Equal(sectionsAtSave, vm.Machine.SectionHashes());
        Assert.Equal(atSave, vm.Hash());
        vm.Machine.Keyboard.TypeText("ver\n");
        vm.Run(30_000_000);
        Assert.Equal(after, vm.Hash());
        Assert.Equal(screenAfter, vm.Machine.Vga.DumpText());
    }

    [Fact]
    public void ReplacingDeletingAndListingFollowQemu()
    {
        using var vm = new SnapshotMachine(_dir);
        vm.Run(3_000_000);
        vm.Machine.SaveVm("a");
        vm.Run(1_000_000);
        string atSecond = vm.Hash();
        vm.Machine.SaveVm("a"); // an existing name is replaced
        var list = vm.Machine.ListVmSnapshots();
        Assert.Single(list);
        Assert.Equal("a", list[0].Name);
        Assert.Equal(vm.Machine.Clock.Clock.Now, list[0].VmClockNanoseconds);

        vm.Run(1_000_000);
        vm.Machine.LoadVm("a");
        Assert.Equal(atSecond, vm.Hash());

        vm.Machine.DeleteVm("a");
        Assert.Empty(vm.Machine.ListVmSnapshots());
        var e = Assert.Throws<SnapshotException>(() => vm.Machine.LoadVm("a"));
        Assert.Contains("no snapshot 'a'", e.Message);
        Assert.Throws<SnapshotException>(() => vm.Machine.DeleteVm("a"));
    }

    [Fact]
    public void DiskOnlySnapshotIsRefusedForLoadvm()
    {
        using (var vm = new SnapshotMachine(_dir)) { }
        using (var disk = ImageFormats.Default.Open(Path.Combine(_dir, "disk.irow")))
            ((ISnapshotStore)disk).CreateSnapshot("diskonly");
        using var vm2 = new SnapshotMachine(_dir, create: false);
        vm2.Run(1_000_000);
        string before = vm2.Hash();
        var e = Assert.Throws<SnapshotException>(() => vm2.Machine.LoadVm("diskonly"));
        Assert.Contains("disk-only", e.Message);
        Assert.Equal(before, vm2.Hash());
    }

    [Fact]
    public void SavevmRefusesAWritableDiskWithoutSnapshots()
    {
        using var vm = new SnapshotMachine(_dir, diskFormat: "raw");
        vm.Run(1_000_000);
        var e = Assert.Throws<SnapshotException>(() => vm.Machine.SaveVm("s1"));
        Assert.Contains("ide0", e.Message);
        Assert.Contains("does not support snapshots", e.Message);
    }
}
