namespace MiniVM.Block;

/// <summary>
/// Capability of formats whose internal snapshots share clusters with the current state by reference count (qcow2,
/// where each snapshot keeps its own L1 table): what each snapshot owns. A snapshot <em>owns</em> guest cluster
/// <c>g</c> when its own table maps <c>g</c> to data — a host cluster, compressed data, or "reads as zeroes" — and the
/// current state's table does not map <c>g</c> to the same thing (it points at another host cluster, says zero where
/// the snapshot has data or the other way round, or leaves <c>g</c> unallocated): data of this snapshot that the current
/// view no longer reads. Clusters the snapshot itself leaves unallocated (read through to a backing file) are not owned.
/// Only allocated tables are walked, and tables the snapshot still shares with the current state are skipped whole, so
/// a huge sparse image costs what it stores.
/// </summary>
public interface ISnapshotOwnership
{
    /// <summary>
    /// Calls <paramref name="visit"/> with the index (guest offset / cluster size) of every guest cluster snapshot
    /// <paramref name="idOrName"/> owns, ascending. An unknown snapshot is an <see cref="ImageFormatException"/>.
    /// </summary>
    SnapshotOwnership VisitOwnedClusters(string idOrName, Action<long> visit);
}

/// <param name="Clusters">How many guest clusters the snapshot owns; times the cluster size, the guest bytes it owns.</param>
/// <param name="ExclusiveBytes">
/// Host bytes of the owned clusters that no other table references (refcount 1): the data that deleting the snapshot
/// would free (its L1 and L2 tables not counted; compressed clusters, which may share host clusters, not counted).
/// </param>
public sealed record SnapshotOwnership(long Clusters, long ExclusiveBytes);
