namespace MiniVM.Devices.Vga;

/// <summary>
/// A rendered screen: <see cref="Width"/> × <see cref="Height"/> pixels as 0xAARRGGBB, row after row.
/// The device reuses one instance and its buffer between frames, so copy what you want to keep.
/// </summary>
public sealed class Framebuffer
{
    private uint[] _buffer = [];

    public int Width { get; private set; }
    public int Height { get; private set; }

    /// <summary>The pixels of the current frame, row-major, opaque ARGB.</summary>
    public ReadOnlySpan<uint> Pixels => _buffer.AsSpan(0, Width * Height);

    public uint this[int x, int y] => (uint)x < (uint)Width && (uint)y < (uint)Height
        ? _buffer[y * Width + x]
        : throw new ArgumentOutOfRangeException(nameof(x), $"pixel ({x},{y}) outside {Width}x{Height}");

    /// <summary>Writes the frame as a PNG image (what the monitor's <c>screendump</c> produces).</summary>
    public void WritePng(Stream stream) => MiniVM.Drawing.PngImage.Write(stream, Width, Height, Pixels);

    internal Span<uint> Resize(int width, int height)
    {
        int n = width * height;
        if (_buffer.Length < n) _buffer = new uint[n];
        Width = width;
        Height = height;
        return _buffer.AsSpan(0, n);
    }
}
