namespace MiniVM.Block;

/// <summary>One internal snapshot as `info snapshots` / `img snapshot -l` show it.</summary>
/// <param name="Id">Format's own id (string so that formats with textual ids fit).</param>
/// <param name="Name">The user's tag.</param>
/// <param name="VmStateSize">Bytes of VM state stored with the snapshot (0 for a disk-only snapshot).</param>
/// <param name="Date">When it was taken.</param>
/// <param name="VmClockNanoseconds">Guest virtual clock at the time it was taken.</param>
/// <param name="ParentId">Snapshot this one was taken on top of, when the format has a tree (null for a root).</param>
/// <param name="InstructionCount">Guest instruction count at the time it was taken, when the format records one (qcow2's icount).</param>
public sealed record SnapshotInfo(string Id, string Name, long VmStateSize, DateTimeOffset Date, long VmClockNanoseconds,
    string? ParentId = null, long? InstructionCount = null);

/// <summary>
/// Capability: internal snapshots, optionally carrying a VM-state stream (savevm/loadvm).
/// Lookup by <c>idOrName</c> tries the id first, then the name, like QEMU.
/// </summary>
public interface ISnapshotStore
{
    IReadOnlyList<SnapshotInfo> ListSnapshots();

    /// <summary>
    /// Freezes the current disk state under <paramref name="name"/>. When <paramref name="writeVmState"/> is given,
    /// it is called once with a write-only stream that stores the VM state inside the snapshot (iROW: in the btmp file
    /// after the bitmap). A snapshot with the same name is not replaced here; callers delete it first (savevm semantics).
    /// </summary>
    SnapshotInfo CreateSnapshot(string name, long vmClockNanoseconds = 0, Action<Stream>? writeVmState = null);

    /// <summary>Makes the disk content equal the snapshot's; writes done since are discarded.</summary>
    void RevertToSnapshot(string idOrName);

    /// <summary>Removes the snapshot and reclaims the space nothing else needs.</summary>
    void DeleteSnapshot(string idOrName);

    /// <summary>
    /// <see cref="DeleteSnapshot"/> as the first half of savevm's replace: a <see cref="CreateSnapshot"/> under the
    /// same name comes next, so a format may leave what that create can reuse (iROW: the old VM state's blocks, the
    /// current state's empty files) until then instead of freeing it.
    /// </summary>
    void DeleteForReplace(string idOrName) => DeleteSnapshot(idOrName);

    /// <summary>Opens the snapshot's VM state for reading; throws ImageFormatException when it has none.</summary>
    Stream OpenVmState(string idOrName);
}
