using System.Text;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// Monitor command lines from a byte stream (a TCP client, stdin), each at most <see cref="MaxLineBytes"/> long:
/// a peer that sends without a line end cannot make the process hold more than one buffer. QEMU's readline
/// keeps 4096 bytes per line too.
/// </summary>
public sealed class MonitorLineReader(Stream input)
{
    public const int MaxLineBytes = 4096;

    private readonly byte[] _buffer = new byte[MaxLineBytes + 2]; // the line and its CR LF
    private int _start, _end;

    /// <summary>
    /// The next line without its line end (LF or CR LF); null at the end of the input. A line longer than
    /// <see cref="MaxLineBytes"/> throws <see cref="MonitorException"/>, after which the reader is of no further use.
    /// </summary>
    public string? ReadLine()
    {
        int scanned = _start;
        while (true)
        {
            int newline = Array.IndexOf(_buffer, (byte)'\n', scanned, _end - scanned);
            if (newline >= 0)
            {
                int length = newline - _start;
                if (length > 0 && _buffer[newline - 1] == '\r') length--;
                if (length > MaxLineBytes) throw TooLong();
                string line = Encoding.UTF8.GetString(_buffer, _start, length);
                _start = newline + 1;
                return line;
            }
            if (_end - _start >= _buffer.Length) throw TooLong();
            scanned = _end;
            if (_end == _buffer.Length)
            {
                // Make room: the pending part of the line moves to the front.
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                scanned -= _start;
                _end -= _start;
                _start = 0;
            }
            int n = input.Read(_buffer, _end, _buffer.Length - _end);
            if (n <= 0)
            {
                if (_end == _start) return null;
                int length = _end - _start;
                if (_buffer[_end - 1] == '\r') length--;
                if (length > MaxLineBytes) throw TooLong();
                string last = Encoding.UTF8.GetString(_buffer, _start, length);
                _start = _end;
                return last;
            }
            _end += n;
        }
    }

    private static MonitorException TooLong() => new($"line longer than {MaxLineBytes} bytes");
}
