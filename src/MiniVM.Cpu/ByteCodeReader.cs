using Iced.Intel;

namespace MiniVM.Cpu;

/// <summary>Feeds Iced's decoder from a reusable buffer, so decoding allocates nothing.</summary>
internal sealed class ByteCodeReader : CodeReader
{
    private byte[] _buffer = [];
    private int _pos, _end;

    public void Reset(byte[] buffer, int length)
    {
        _buffer = buffer;
        _pos = 0;
        _end = length;
    }

    /// <summary>Bytes the decoder has taken since the last <see cref="Reset"/>.</summary>
    public int Consumed => _pos;

    public override int ReadByte() => _pos < _end ? _buffer[_pos++] : -1;
}
