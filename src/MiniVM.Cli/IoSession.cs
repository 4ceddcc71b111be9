using System.Diagnostics;
using System.Globalization;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>Runs <see cref="IoRequest"/>s on one open image and prints what qemu-io prints.</summary>
internal sealed class IoSession
{
    private const int ChunkSize = 1 << 20;
    private readonly CliContext _context;
    private readonly IBlockDriver _image;
    private byte[]? _buffer;

    public IoSession(CliContext context, IBlockDriver image)
    {
        _context = context;
        _image = image;
    }

    /// <returns>An exit code: <see cref="ExitCodes.Failure"/> when a read does not match its -P pattern.</returns>
    public int Execute(IoRequest r)
    {
        if (r.Operation is IoOperation.Read or IoOperation.Write or IoOperation.Discard or IoOperation.Alloc)
        {
            if (r.Offset > _image.Size || r.Length > _image.Size - r.Offset)
                throw new ImageFormatException(_image.FileName,
                    $"'{r.Text}': {r.Length} bytes at offset {r.Offset} go beyond the image size {_image.Size}");
            if (r.Operation != IoOperation.Read && _image.IsReadOnly)
                throw new CommandFailure(ExitCodes.Usage, $"{_image.FileName}: '{r.Text}': the image is open read-only");
        }
        long began = Stopwatch.GetTimestamp();
        switch (r.Operation)
        {
            case IoOperation.Read:
                long bad = Read(r.Offset, r.Length, r.Pattern, out byte found, r.Dump);
                if (bad >= 0)
                {
                    _context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"minivm: {_image.FileName}: pattern verification failed at offset {bad} (expected 0x{r.Pattern:x2}, found 0x{found:x2})"));
                    return ExitCodes.Failure;
                }
                Report("read", r, began);
                break;
            case IoOperation.Write:
                if (r.Zeroes) _image.WriteZeroes(r.Offset, r.Length);
                else Write(r.Offset, r.Length, r.Pattern ?? IoRequest.DefaultWritePattern);
                Report("wrote", r, began);
                break;
            case IoOperation.Discard:
                _image.Discard(r.Offset, r.Length);
                Report("discard", r, began);
                break;
            case IoOperation.Flush:
                _image.Flush();
                break;
            case IoOperation.Map:
                Map();
                break;
            case IoOperation.Alloc:
                _context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{AllocatedBytes(r.Offset, r.Length)}/{r.Length} bytes allocated at offset {Amount(r.Offset)}"));
                break;
            case IoOperation.Length:
                _context.Out.WriteLine(Amount(_image.Size));
                break;
            case IoOperation.Info:
                Info();
                break;
            case IoOperation.Quit:
                break;
        }
        return ExitCodes.Success;
    }

    /// <returns>The first offset that differs from <paramref name="pattern"/>, or -1.</returns>
    private long Read(long offset, long length, byte? pattern, out byte found, bool dump)
    {
        found = 0;
        // read -v: qemu-io dumps the whole buffer before its verdict.
        var buffer = dump ? new byte[Math.Max(1, length)] : Buffer(length);
        for (long pos = offset, end = offset + length; pos < end;)
        {
            int n = (int)Math.Min(buffer.Length, end - pos);
            var span = buffer.AsSpan(0, n);
            _image.Read(pos, span);
            if (dump) HexDump(pos, span);
            if (pattern is byte p)
            {
                int i = span.IndexOfAnyExcept(p);
                if (i >= 0) { found = span[i]; return pos + i; }
            }
            pos += n;
        }
        return -1;
    }

    private void Write(long offset, long length, byte pattern)
    {
        var buffer = Buffer(length);
        buffer.AsSpan().Fill(pattern);
        for (long pos = offset, end = offset + length; pos < end;)
        {
            int n = (int)Math.Min(buffer.Length, end - pos);
            _image.Write(pos, buffer.AsSpan(0, n));
            pos += n;
        }
    }

    private byte[] Buffer(long length)
    {
        int want = (int)Math.Clamp(length, 1, ChunkSize);
        if (_buffer is null || _buffer.Length < want) _buffer = new byte[want];
        return _buffer;
    }

    /// <summary>qemu-io's two report lines: what was done, then how fast.</summary>
    private void Report(string verb, IoRequest r, long began)
    {
        double seconds = Stopwatch.GetElapsedTime(began).TotalSeconds;
        var o = _context.Out;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{verb} {r.Length}/{r.Length} bytes at offset {r.Offset}"));
        double rate = seconds > 0 ? r.Length / seconds : 0;
        double ops = seconds > 0 ? 1 / seconds : 0;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Amount(r.Length)}, 1 ops; {seconds:00.0000} sec ({Amount(rate)}/sec and {ops:0.0000} ops/sec)"));
    }

    /// <summary>
    /// qemu-io's dump_buffer: 16 bytes a line, "OFFSET:  " in 8 hex digits, each byte as "xx ", then one space and the
    /// bytes again with only letters and digits shown (isalnum), everything else as '.'.
    /// </summary>
    private void HexDump(long offset, ReadOnlySpan<byte> data)
    {
        var line = new System.Text.StringBuilder(80);
        for (int i = 0; i < data.Length; i += 16)
        {
            line.Clear();
            line.Append(string.Create(CultureInfo.InvariantCulture, $"{offset + i:x8}:  "));
            int n = Math.Min(16, data.Length - i);
            for (int j = 0; j < n; j++) line.Append(string.Create(CultureInfo.InvariantCulture, $"{data[i + j]:x2} "));
            line.Append(' ');
            for (int j = 0; j < n; j++) line.Append(char.IsAsciiLetterOrDigit((char)data[i + j]) ? (char)data[i + j] : '.');
            _context.Out.WriteLine(line.ToString());
        }
    }

    /// <summary>qemu-io alloc: bytes of the range this layer itself holds (data or zeroes), backing layers not counted.</summary>
    private long AllocatedBytes(long offset, long length)
    {
        long allocated = 0;
        for (long pos = offset, end = offset + length; pos < end;)
        {
            var e = _image.GetBlockStatus(pos, end - pos);
            long n = Math.Max(1, Math.Min(e.Length, end - pos));
            if (e.Kind != ExtentKind.Unallocated) allocated += n;
            pos += n;
        }
        return allocated;
    }

    /// <summary>
    /// qemu-io info: the format, its cluster size, and the lines `img info` shows under "Format specific information"
    /// (qemu-io's "vm state offset" line is left out: it is qcow2's internal layout, no capability here).
    /// </summary>
    private void Info()
    {
        var o = _context.Out;
        o.WriteLine($"format name: {_image.FormatName}");
        var info = _image as IImageInfo;
        o.WriteLine($"cluster size: {Amount(info?.ClusterSize ?? 0)}"); // "0 bytes" for raw, as qemu-io
        if (info is { FormatSpecific.Count: > 0 })
        {
            o.WriteLine("Format specific information:");
            foreach (var (k, v) in info.FormatSpecific) o.WriteLine($"    {k}: {v}");
        }
    }

    /// <summary>qemu-io map: whether the image's own layer holds each run (data or zero), backing layers not counted.</summary>
    private void Map()
    {
        long off = 0, size = _image.Size;
        while (off < size)
        {
            bool allocated = _image.GetBlockStatus(off, size - off) is var first && first.Kind != ExtentKind.Unallocated;
            long len = Math.Max(1, Math.Min(first.Length, size - off));
            while (off + len < size)
            {
                var next = _image.GetBlockStatus(off + len, size - off - len);
                if ((next.Kind != ExtentKind.Unallocated) != allocated) break;
                len += Math.Max(1, Math.Min(next.Length, size - off - len));
            }
            _context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Amount(len)} ({CliNumbers.Hex(len)}) bytes {(allocated ? "    allocated" : "not allocated")} at offset {Amount(off)} ({CliNumbers.Hex(off)})"));
            off += len;
        }
    }

    /// <summary>qemu-io's cvtstr: "512 bytes", "64 KiB", "3.375 MiB" (three decimals, ".000" dropped).</summary>
    private static string Amount(double value)
    {
        string[] units = [" bytes", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"];
        int u = 0;
        while (value >= 1024 && u < units.Length - 1) { value /= 1024; u++; }
        // printf's %.3f rounds an exact tie to even (4.0625 -> 4.062); .NET's format would round it up.
        string number = Math.Round(value, 3, MidpointRounding.ToEven).ToString("0.000", CultureInfo.InvariantCulture);
        if (number.EndsWith(".000", StringComparison.Ordinal)) number = number[..^4];
        return number + units[u];
    }
}
