namespace MiniVM.Block;

/// <summary>
/// Capability: every state the image keeps, not only the ones the current view reads through (iROW: each record of
/// the meta file, irow.md §2.3, deleted records kept for their children included), each with its father and the
/// clusters it holds itself. The states are listed in the order of <see cref="IExtentOwners.ExtentOwners"/>: state
/// <c>i</c>'s data lives in owner <c>i</c>'s file.
/// </summary>
public interface IStateHistory : IExtentOwners
{
    IReadOnlyList<ImageState> States { get; }

    /// <summary>
    /// Calls <paramref name="visit"/> with every cluster state <paramref name="state"/> holds itself, ascending (iROW:
    /// the set bits of its btmp file, irow.md §2.5), including clusters a later state has since rewritten.
    /// </summary>
    void VisitOwnedClusters(int state, Action<long> visit);
}

/// <param name="Id">The snapshot id; null for the current state.</param>
/// <param name="Parent">Index in <see cref="IStateHistory.States"/> of the state this one was taken from; -1 for a root.</param>
public sealed record ImageState(string? Id, string Name, DateTimeOffset Date, long VmStateSize, bool IsCurrent, bool IsDeleted, int Parent);
