using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// Copies the content a chain reads as into a fresh target, writing only data that is not all zeroes:
/// runs the chain reports as zero or unallocated are skipped, since a new image reads as zeroes there.
/// </summary>
internal sealed class ImageCopy
{
    private const int ChunkSize = 1 << 20;
    private readonly ImageChain _source;

    public ImageCopy(ImageChain source) => _source = source;

    /// <summary>Bytes of the target written with data (the rest was skipped as zero).</summary>
    public long BytesWritten { get; private set; }

    /// <param name="progress">Called with the number of guest bytes done so far, after each step.</param>
    public void CopyTo(IBlockDriver target, Action<long>? progress)
    {
        long size = _source.Size;
        byte[] buffer = new byte[ChunkSize];
        long offset = 0;
        while (offset < size)
        {
            var run = _source.Status(offset, size - offset);
            if (run.Kind == ExtentKind.Data)
            {
                long end = run.Offset + run.Length;
                for (long pos = run.Offset; pos < end;)
                {
                    int n = (int)Math.Min(ChunkSize, end - pos);
                    var span = buffer.AsSpan(0, n);
                    _source.Top.Read(pos, span);
                    // Data that happens to be zero needs no write either (qemu-img convert does the same).
                    if (span.ContainsAnyExcept((byte)0))
                    {
                        target.Write(pos, span);
                        BytesWritten += n;
                    }
                    pos += n;
                    progress?.Invoke(pos);
                }
            }
            offset = run.Offset + run.Length;
            progress?.Invoke(offset);
        }
        target.Flush();
    }
}
