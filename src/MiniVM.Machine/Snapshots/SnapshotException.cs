namespace MiniVM.Machine.Snapshots;

/// <summary>savevm/loadvm/delvm refused: no disk can hold the state, a disk cannot take snapshots, no such snapshot…</summary>
public sealed class SnapshotException(string message) : Exception(message);
