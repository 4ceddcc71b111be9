using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Irow;

/// <summary>
/// The VM-state region of a btmp file, right after the bitmap (irow.md §2.5, §6.5), as a sequential stream.
/// Reads are bounded by the record's vm_state_size (§9 W25); writes by the u32 field (§9 W27).
/// </summary>
internal sealed class IrowVmStateStream : Stream
{
    private readonly SafeFileHandle _file;
    private readonly bool _ownsHandle;
    private readonly long _base;
    private readonly bool _writable;
    private readonly string _path;
    private long _length;
    private long _position;

    public IrowVmStateStream(SafeFileHandle file, string path, long baseOffset, long length, bool writable, bool ownsHandle)
    {
        _file = file; _path = path; _base = baseOffset; _length = length; _writable = writable; _ownsHandle = ownsHandle;
    }

    public override bool CanRead => !_writable;
    public override bool CanSeek => true;
    public override bool CanWrite => _writable;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_writable) throw new NotSupportedException("VM-state stream is write-only");
        long left = _length - _position;
        if (left <= 0) return 0;
        var dest = buffer[..(int)Math.Min(buffer.Length, left)];
        int n = RandomAccess.Read(_file, dest, _base + _position);
        if (n <= 0) throw new ImageFormatException(_path, $"VM state ends early at {_position} of {_length} bytes");
        _position += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!_writable) throw new NotSupportedException("VM-state stream is read-only");
        if (_position + buffer.Length > uint.MaxValue)
            throw new ImageFormatException(_path, "VM state is larger than the 4 GiB an iROW record can describe");
        RandomAccess.Write(_file, buffer, _base + _position);
        _position += buffer.Length;
        if (_position > _length) _length = _position;
        if (_position - _writebackFrom >= WritebackChunk)
        {
            HostFile.StartWriteback(_file, _base + _writebackFrom, _position - _writebackFrom);
            _writebackFrom = _position;
        }
    }

    /// <summary>
    /// A Linux guest's state is tens of MiB, made durable by the fdatasync that follows (§6.2): each chunk written is
    /// handed to the disk at once, so the disk works while the rest of the stream is produced (savevm waited ~80 ms
    /// in that fdatasync for 48 MiB).
    /// </summary>
    private const long WritebackChunk = 4 << 20;
    private long _writebackFrom;

    public override long Seek(long offset, SeekOrigin origin)
    {
        long p = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => _length + offset };
        Position = p;
        return p;
    }

    public override void SetLength(long value) => throw new NotSupportedException("VM-state length follows what was written");

    public override void Flush() { }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsHandle) _file.Dispose();
        base.Dispose(disposing);
    }
}
