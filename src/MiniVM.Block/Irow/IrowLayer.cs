using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>An ancestor state on the current state's chain: read-only once frozen (irow.md §4, §9 W28).</summary>
internal sealed class IrowLayer(IrowSnapshotRecord record, SafeFileHandle irvd, string irvdPath, string btmpPath)
{
    public IrowSnapshotRecord Record { get; } = record;
    public SafeFileHandle Irvd { get; } = irvd;
    public string IrvdPath { get; } = irvdPath;
    public string BtmpPath { get; } = btmpPath;
}
