using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// Walks the block status of a backing chain top-down: the first layer that holds data or zeroes for an offset
/// decides it; an unallocated run in every layer reads as zeroes (design.md, "byte ranges").
/// </summary>
internal sealed class ImageChain
{
    private readonly List<IBlockDriver> _layers;

    public ImageChain(IBlockDriver top) => _layers = ImageAccess.Layers(top);

    public IBlockDriver Top => _layers[0];
    public long Size => _layers[0].Size;
    public int LayerCount => _layers.Count;

    /// <summary>The state of the run starting at <paramref name="offset"/>, at most <paramref name="maxLength"/> bytes.</summary>
    public ChainExtent Status(long offset, long maxLength)
    {
        long length = maxLength;
        for (int depth = 0; depth < _layers.Count; depth++)
        {
            var layer = _layers[depth];
            // A backing image may be shorter than the overlay: past its end it reads as zeroes.
            if (offset >= layer.Size)
                return new ChainExtent(offset, length, depth, ExtentKind.Unallocated, null, -1);
            long ask = Math.Min(length, layer.Size - offset);
            var e = layer.GetBlockStatus(offset, ask);
            if (e.Length <= 0)
                throw new ImageFormatException(layer.FileName, $"block status at offset {offset} returned an empty run");
            length = Math.Min(ask, e.Length);
            if (e.Kind != ExtentKind.Unallocated)
                return new ChainExtent(offset, length, depth, e.Kind, e.File ?? (e.Kind == ExtentKind.Data ? layer.FileName : null),
                    e.Kind == ExtentKind.Data ? e.HostOffset : -1);
        }
        return new ChainExtent(offset, length, _layers.Count - 1, ExtentKind.Unallocated, null, -1);
    }
}
