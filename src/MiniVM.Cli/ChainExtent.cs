using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// What a whole backing chain says about a run of guest bytes, as `qemu-img map` reports it.
/// <paramref name="Depth"/> is the layer that decided (0 = top); for a run no layer holds it is the bottom layer's index.
/// </summary>
internal readonly record struct ChainExtent(long Offset, long Length, int Depth, ExtentKind Kind, string? File, long HostOffset)
{
    /// <summary>Some layer holds data or an explicit zero for the run.</summary>
    public bool Present => Kind != ExtentKind.Unallocated;

    /// <summary>The run reads as zeroes.</summary>
    public bool Zero => Kind != ExtentKind.Data;
}
