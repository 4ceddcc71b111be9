using MiniVM.Machine.Monitor;
using MiniVM.Machine.Tests.Snapshots;

namespace MiniVM.Machine.Tests.Monitor;

/// <summary>
/// `change`, `eject` and `info block` on the CD-ROM drive, and savevm/loadvm with a medium in it: the snapshot names
/// the medium, loadvm puts it back, and says so clearly when the file is gone. No guest is booted.
/// </summary>
public sealed class CdromMonitorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-cdmon").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Iso(string name, int sectors)
    {
        string path = Path.Combine(_dir, name);
        var bytes = new byte[sectors * 2048];
        new Random(sectors).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void ChangeEjectAndInfoBlockShowTheMediumAndTheTray()
    {
        string first = Iso("first.iso", 16), second = Iso("second.iso", 32);
        using var vm = new SnapshotMachine(_dir, cdrom: first);
        var m = new HumanMonitor(vm.Machine);
        Assert.EndsWith($"ide1-cd0: {first} (raw, read-only)\n    Removable device: not locked, tray closed", m.Execute("info block"));
        Assert.Equal("", m.Execute("eject ide1-cd0"));
        Assert.EndsWith("ide1-cd0: [not inserted]\n    Removable device: not locked, tray open", m.Execute("info block"));
        Assert.Equal("", m.Execute($"change ide1-cd0 {second}"));
        Assert.Equal(32 * 2048, vm.Machine.CdRoms[0].Medium!.Size);
        Assert.Equal("Error: change: file 'nothing.iso' not found", m.Execute("change ide1-cd0 nothing.iso"));
        Assert.Equal(second, vm.Machine.CdRoms[0].MediumName);                      // a failed change keeps the medium
        Assert.Equal("Error: eject: no removable drive 'ide0-cd0' (CD-ROM drives: ide1-cd0)", m.Execute("eject ide0-cd0"));
        Assert.Equal("Error: eject: usage: eject [-f] DRIVE", m.Execute("eject -f"));
        Assert.Contains("change DRIVE FILE [FORMAT]", m.Execute("help"));
    }

    [Fact]
    public void InfoBlockNamesTheMediumsFormatAsTheRegistryDoes()
    {
        string first = Iso("first.iso", 16);
        Iso("second.iso", 32);
        // An add-cow overlay on an ISO: its format is "add-cow" (the registry's name), not a class name ("addcow").
        string overlay = Path.Combine(_dir, "cd.add-cow");
        var options = new MiniVM.Block.ImageCreateOptions { BackingFile = "second.iso", BackingFormat = "raw" };
        MiniVM.Block.ImageFormats.Default.Create("add-cow", overlay, 32 * 2048, options).Dispose();
        using var vm = new SnapshotMachine(_dir, cdrom: first);
        var m = new HumanMonitor(vm.Machine);
        Assert.Equal("", m.Execute($"change ide1-cd0 {overlay} add-cow"));
        Assert.EndsWith($"ide1-cd0: {overlay} (add-cow, read-only)\n    Removable device: not locked, tray closed", m.Execute("info block"));
    }

    [Fact]
    public void LoadvmPutsBackTheSavedMediumAndRefusesClearlyWhenItsFileIsGone()
    {
        string first = Iso("first.iso", 16), second = Iso("second.iso", 32);
        using var vm = new SnapshotMachine(_dir, cdrom: first);
        var m = new HumanMonitor(vm.Machine);
        vm.Run(2_000_000);
        Assert.StartsWith("saved 'withcd'", m.Execute("savevm withcd"));
        string hash = vm.Hash();
        Assert.Equal("", m.Execute($"change ide1-cd0 {second}"));
        Assert.Equal("", m.Execute("loadvm withcd"));
        Assert.Equal(first, vm.Machine.CdRoms[0].MediumName);
        Assert.Equal(hash, vm.Hash());

        Assert.Equal("", m.Execute($"change ide1-cd0 {second}"));
        File.Delete(first);
        string answer = m.Execute("loadvm withcd");
        Assert.Equal($"Error: loadvm 'withcd' refused, the VM is unchanged: section ide: ide1-cd0 had the medium '{first}' inserted, and that file is gone", answer);
        Assert.Equal(second, vm.Machine.CdRoms[0].MediumName);
    }
}
