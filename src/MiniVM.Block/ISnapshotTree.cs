namespace MiniVM.Block;

/// <summary>
/// Capability: the snapshots form a tree. Every <see cref="SnapshotInfo.ParentId"/> names the snapshot it was taken on
/// top of, and the current state hangs below the snapshot it was taken from or reverted to (irow.md §2.3: every state
/// has a father). Formats that keep no such links (qcow2 records no parent, as in QEMU) do not implement it.
/// </summary>
public interface ISnapshotTree : ISnapshotStore
{
    /// <summary>Id of the snapshot the current state was taken from or reverted to; null when it hangs below none.</summary>
    string? CurrentParentId { get; }
}
