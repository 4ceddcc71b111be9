using System.Security.Cryptography;
using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Devices.Pci;
using MiniVM.Devices.Vga;
using MiniVM.Machine.Snapshots;

namespace MiniVM.Machine;

/// <summary>
/// savevm / loadvm / delvm with QEMU's semantics (issue #6): every writable disk is snapshotted under the same name,
/// the VM state goes into the first writable disk (iROW: the snapshot's btmp file after the bitmap), and loadvm
/// reverts every disk through the format's own snapshot path before restoring the sections.
/// Callers run these on the machine thread between slices.
/// </summary>
public sealed partial class PcMachine
{
    /// <summary>Large buffers: the state stream is written in 4-byte + 4-KiB pieces, which the formats would see one by one.</summary>
    private const int StateBufferSize = 1 << 20;

    /// <summary>
    /// How many bytes of a snapshot's RAM that differ from guest RAM loadvm keeps from its checking pass, so it reads the
    /// stream once (loading right after savevm, or a snapshot of the same run, differs in little); a snapshot that
    /// differs in more is read a second time to apply it, so loadvm's memory stays bounded.
    /// </summary>
    public long LoadVmStagingLimit { get; set; } = 64L << 20;

    private string? _fingerprint;
    private RamOccupancy? _ramOccupancy;

    /// <summary>
    /// Made on first use: until then nothing has drained the memory's write log, so every page written since
    /// power-on is in it, as <see cref="RamOccupancy"/>'s invariant needs.
    /// </summary>
    private RamOccupancy RamOccupancy => _ramOccupancy ??= new RamOccupancy(Memory);

    /// <summary>Every section of the VM state in stream order: clock first (its restore cancels timers the devices re-arm), CPU, devices.</summary>
    public IReadOnlyList<ISnapshottable> StateSections =>
        [new ClockSection(Clock, () => ResetPending, v => ResetPending = v), new CpuSection(Cpu), .. _board.Sections];

    /// <summary>
    /// What must match for a VM state to load here: RAM size, firmware images and every section with its version.
    /// Disks are not part of it (their content comes from the same snapshot).
    /// </summary>
    public string Fingerprint => _fingerprint ??= BuildFingerprint();

    private string BuildFingerprint()
    {
        var parts = new List<string> { "pc-i440fx", $"ram={Memory.RamSize >> 20}M", "bios=" + ShortHash(_bios) };
        foreach (var s in StateSections) parts.Add($"{s.SectionId}.v{s.SectionVersion}");
        return string.Join(' ', parts);
    }

    private static string ShortHash(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data).AsSpan(0, 6));

    /// <summary>SHA-256 over the whole VM state as savevm would write it (CPU, FPU, RAM, devices, screen, clock).</summary>
    public byte[] StateHash()
    {
        using var sha = SHA256.Create();
        using (var cs = new CryptoStream(Stream.Null, sha, CryptoStreamMode.Write, leaveOpen: true))
        using (var buffered = new BufferedStream(cs, StateBufferSize))
            VmStateStream.Save(buffered, Fingerprint, StateSections, Memory.Ram);
        return sha.Hash!;
    }

    /// <summary>Per-section SHA-256 (RAM last): when two state hashes differ, which part of the machine differs.</summary>
    public IReadOnlyList<(string Section, string Hash)> SectionHashes()
    {
        var list = new List<(string, string)>();
        foreach (var (section, body) in VmStateStream.Capture(StateSections))
            list.Add((section.SectionId, Convert.ToHexStringLower(SHA256.HashData(body))));
        list.Add((VmStateStream.RamSectionId, Convert.ToHexStringLower(SHA256.HashData(Memory.Ram))));
        return list;
    }

    /// <summary>The name a drive has in messages and `info block`: ide0, floppy0, virtio1 (with its file).</summary>
    public string DiskLabel(int i) => DiskDrive(i).Label;

    /// <summary>The writable disks with their labels; each must be able to take snapshots for savevm/loadvm.</summary>
    private List<(string Label, ISnapshotStore Store)> SnapshotDisks(string command)
    {
        var list = new List<(string, ISnapshotStore)>();
        for (int i = 0; i < _disks.Count; i++)
        {
            if (_disks[i].IsReadOnly) continue;
            if (_disks[i] is not ISnapshotStore store)
                throw new SnapshotException($"{command}: disk {DiskLabel(i)} ({Path.GetFileName(DiskDrive(i).File)}) does not support snapshots; make it read-only or use a format that does (irow, qcow2)");
            list.Add((DiskLabel(i), store));
        }
        if (list.Count == 0) throw new SnapshotException($"{command}: no writable disk to hold snapshots");
        return list;
    }

    private static SnapshotInfo? Find(ISnapshotStore store, string idOrName)
    {
        var all = store.ListSnapshots();
        foreach (var s in all) if (s.Id == idOrName) return s;
        foreach (var s in all) if (s.Name == idOrName) return s;
        return null;
    }

    /// <summary>Snapshots as `info snapshots` shows them: those of the disk that holds VM state (the first writable one).</summary>
    public IReadOnlyList<SnapshotInfo> ListVmSnapshots()
    {
        var disks = SnapshotDisks("info snapshots");
        RemoveHalfMadeSets(disks);
        return disks[0].Store.ListSnapshots();
    }

    /// <summary>Told one line whenever a half-made savevm set is found and removed (the CLI prints it on stderr).</summary>
    public Action<string>? SnapshotNotice { get; set; }

    /// <summary>
    /// A multi-disk savevm is committed by its last step, the snapshot with VM state on the first disk; the other disks
    /// get theirs before it. A savevm killed midway therefore leaves snapshots on later disks that the first disk lacks:
    /// they belong to no set loadvm could use, so they are removed here (savevm, loadvm, delvm, info snapshots) and
    /// reported in one line. Only savevm-made ones (a VM clock) are touched; `img snapshot -c` leaves the clock at 0.
    /// </summary>
    private void RemoveHalfMadeSets(List<(string Label, ISnapshotStore Store)> disks)
    {
        if (disks.Count < 2) return;
        var committed = new HashSet<string>(disks[0].Store.ListSnapshots().Select(s => s.Name), StringComparer.Ordinal);
        for (int i = 1; i < disks.Count; i++)
        {
            var (label, store) = disks[i];
            foreach (var s in store.ListSnapshots())
            {
                if (committed.Contains(s.Name) || s.VmClockNanoseconds == 0 || s.VmStateSize != 0) continue;
                store.DeleteSnapshot(s.Id);
                SnapshotNotice?.Invoke($"savevm '{s.Name}' was interrupted: {disks[0].Label} (VM state) never got it, so it was removed from {label}");
            }
        }
    }

    /// <summary>
    /// savevm: replace any snapshot of that name on every writable disk, snapshot them all (each durable), the VM state going
    /// into the first. A disk that cannot take snapshots refuses the whole command before anything changes. The first
    /// disk is the commit point: its old snapshot goes first and its new one comes last (<see cref="RemoveHalfMadeSets"/>).
    /// </summary>
    public SnapshotInfo SaveVm(string? name = null)
    {
        name = string.IsNullOrWhiteSpace(name) ? $"vm-{DateTime.Now:yyyyMMddHHmmss}" : name;
        var disks = SnapshotDisks("savevm");
        RemoveHalfMadeSets(disks);
        // No FlushDisks first: every writable disk is a snapshot store here, and each format's CreateSnapshot makes
        // the disk's data and metadata durable before it commits (iROW: fdatasync irvd, bitmap, fdatasync btmp; qcow2:
        // its metadata flush); flushing before as well cost two more fsyncs per disk for nothing.
        foreach (var (_, store) in disks)
            if (Find(store, name) is { } old) store.DeleteForReplace(old.Id);
        long clock = Clock.Clock.Now;
        var sections = StateSections;
        for (int i = 1; i < disks.Count; i++) disks[i].Store.CreateSnapshot(name, Math.Max(clock, 1));
        SnapshotInfo first = disks[0].Store.CreateSnapshot(name, clock, s =>
        {
            // The format owns `s` (qcow2 flushes it after this returns): flush the buffer, never dispose it.
            // Only pages written since the last savevm or loadvm are read to learn whether they are zero.
            var buffered = new BufferedStream(s, StateBufferSize);
            VmStateStream.Save(buffered, Fingerprint, sections, Memory.Ram, RamOccupancy.NonZeroPages());
            buffered.Flush();
        });
        return Find(disks[0].Store, first.Id) ?? first;
    }

    /// <summary>
    /// loadvm: the snapshot must exist on every writable disk and carry VM state. The stream is checked in full (and
    /// its sections trial-loaded, undone on failure) before any disk is reverted, so a bad stream changes nothing.
    /// </summary>
    public void LoadVm(string idOrName)
    {
        var disks = SnapshotDisks("loadvm");
        RemoveHalfMadeSets(disks);
        foreach (var (label, store) in disks)
            if (Find(store, idOrName) is null) throw new SnapshotException($"loadvm: disk {label} has no snapshot '{idOrName}'");
        var (stateLabel, stateStore) = disks[0];
        var info = Find(stateStore, idOrName)!;
        if (info.VmStateSize == 0)
            throw new SnapshotException($"loadvm: snapshot '{idOrName}' on {stateLabel} is disk-only (no VM state); revert it with `img snapshot -a` instead");

        var sections = StateSections;
        var rollback = VmStateStream.Capture(sections);
        var staged = new StagedState(Memory.Ram.Length, LoadVmStagingLimit);
        try
        {
            using var trial = new BufferedStream(stateStore.OpenVmState(info.Id), StateBufferSize);
            VmStateStream.Read(trial, Fingerprint, sections, Memory.Ram, VmStateStream.Pass.Devices, stage: staged);
        }
        catch (Exception e) when (e is StateFormatException or ImageFormatException or IOException)
        {
            VmStateStream.Restore(rollback);
            AfterStateLoad();
            throw new StateFormatException($"loadvm '{idOrName}' refused, the VM is unchanged: {e.Message}");
        }

        foreach (var (label, store) in disks) store.RevertToSnapshot(Find(store, idOrName)!.Id);
        RamOccupancy.BeginLoad(); // pages known zero that the snapshot does not hold are not even read
        if (staged.Complete) VmStateStream.Apply(staged, Memory.Ram, RamOccupancy);
        else
        {
            using var apply = new BufferedStream(stateStore.OpenVmState(info.Id), StateBufferSize);
            VmStateStream.Read(apply, Fingerprint, sections, Memory.Ram, VmStateStream.Pass.All, RamOccupancy);
        }
        AfterStateLoad();
    }

    /// <summary>delvm: removes the snapshot from every writable disk that has it (space reclaimed by each format).</summary>
    public int DeleteVm(string idOrName)
    {
        int removed = 0;
        var disks = SnapshotDisks("delvm");
        RemoveHalfMadeSets(disks);
        // The first disk first: once its snapshot (the set's commit point) is gone, the rest is a half-made set.
        foreach (var (_, store) in disks)
            if (Find(store, idOrName) is { } s) { store.DeleteSnapshot(s.Id); removed++; }
        if (removed == 0) throw new SnapshotException($"delvm: no snapshot '{idOrName}' on any disk");
        return removed;
    }

    /// <summary>
    /// What the sections do not carry: the memory map derived from device registers (RAM pages overwritten wholesale
    /// need their decoded code dropped; PAM shadowing; the VGA window), the A20 gate from both of its sources, and the
    /// slice bookkeeping of the clock against the restored instruction count.
    /// </summary>
    private void AfterStateLoad()
    {
        // Re-mapping invalidates the decode cache of every page it touches (PhysicalMemory.Map).
        Memory.MapRam(0, (ulong)Memory.RamSize);
        Memory.MapIo(VgaDevice.WindowBase, VgaDevice.WindowSize);
        for (int i = 0; i < PciHostBridge.PamRegionCount; i++)
        {
            var (read, write) = _pciHost.GetPam(i);
            _shadow.Set(i, read, write);
        }
        UpdateA20();
        Clock.BeginSlice();
    }
}
