using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("MiniVM.Block.Tests")]

namespace MiniVM.Block.AddCow;

/// <summary>The host I/O steps whose order carries add-cow's crash safety (add-cow.md §3.5).</summary>
internal enum AddCowHostOp
{
    /// <summary>Guest data (or copy-on-write fill, or zeroes) written to the raw file.</summary>
    RawWrite,
    /// <summary>fdatasync of the raw file.</summary>
    RawSync,
    /// <summary>Bitmap bytes written to the add-cow file at <c>offset</c> (a bitmap byte index).</summary>
    BitmapWrite,
    /// <summary>fdatasync of the add-cow file.</summary>
    MetaSync,
}

/// <summary>
/// Sees every ordered host step as it is issued, so tests can replay the sequence as a power failure would cut it
/// (the spec's fault-injecting wrapper, §6.5). <paramref name="bytes"/> is set for bitmap writes only.
/// </summary>
internal delegate void AddCowHostObserver(AddCowHostOp op, long offset, long length, ReadOnlySpan<byte> bytes);
