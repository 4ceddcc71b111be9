using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Raw;

/// <summary>A raw image: guest byte N is host byte N. Holes in the host file are unallocated (read as zeroes).</summary>
public sealed class RawImage : IBlockDriver, IImageInfo, IResizable
{
    private readonly SafeFileHandle _file;
    private bool _disposed;

    private RawImage(string fileName, SafeFileHandle file, long size, bool readOnly)
    {
        FileName = fileName; _file = file; Size = size; IsReadOnly = readOnly;
    }

    /// <summary>Opens an existing raw file; its length is the disk size.</summary>
    public static RawImage Open(string fileName, bool readOnly)
    {
        var h = HostFile.OpenHandle(fileName, !readOnly);
        try { return new RawImage(fileName, h, RandomAccess.GetLength(h), readOnly); }
        catch { h.Dispose(); throw; }
    }

    /// <summary>Creates (or truncates) a sparse raw file of <paramref name="size"/> bytes.</summary>
    public static RawImage Create(string fileName, long size)
    {
        var h = HostFile.OpenHandle(fileName, true, FileMode.Create);
        try
        {
            RandomAccess.SetLength(h, size);
            return new RawImage(fileName, h, size, false);
        }
        catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
        {
            // The host refused the length (EFBIG for 1P on ext4): one line, and no empty file left behind.
            h.Dispose();
            try { File.Delete(fileName); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            string why = e is ArgumentOutOfRangeException ? "the host file system does not allow a file that large" : e.Message;
            throw new ImageFormatException(fileName, $"cannot create a {size}-byte image: {why}");
        }
    }

    public string FormatName => "raw";
    public string FileName { get; }
    public long Size { get; private set; }
    public bool IsReadOnly { get; }
    public long ClusterSize => 0;
    public long DiskUsage => HostFile.AllocatedBytes(FileName);
    public IReadOnlyList<string> Files => [FileName];
    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific => [];

    private void CheckRange(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || length < 0 || offset > Size - length)
            throw new ImageFormatException(FileName, $"range {offset}+{length} is outside the disk (size {Size})");
    }

    private ImageFormatException HostError(string what, IOException e) => new($"{FileName}: {what} failed: {e.Message}", e);

    private void CheckWritable()
    {
        if (IsReadOnly) throw new ImageFormatException(FileName, "image is open read-only");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        try
        {
            int done = 0;
            while (done < buffer.Length)
            {
                int n = RandomAccess.Read(_file, buffer[done..], offset + done);
                if (n <= 0) { buffer[done..].Clear(); break; }
                done += n;
            }
        }
        catch (IOException e) { throw HostError("read", e); }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckRange(offset, data.Length);
        CheckWritable();
        try { RandomAccess.Write(_file, data, offset); }
        catch (IOException e) { throw HostError("write", e); }
    }

    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsReadOnly) HostFile.SyncData(_file, FileName);
    }

    public Extent GetBlockStatus(long offset, long maxLength)
    {
        CheckRange(offset, 0);
        long len = Math.Min(maxLength, Size - offset);
        if (len <= 0) throw new ImageFormatException(FileName, $"block status at {offset} is at or past the end of the disk");
        if (HostFile.TryGetAllocation(_file, offset, Size, out bool isData, out long runEnd) && runEnd > offset)
            return new Extent(offset, Math.Min(len, runEnd - offset), isData ? ExtentKind.Data : ExtentKind.Zero,
                isData ? FileName : null, isData ? offset : -1);
        return new Extent(offset, len, ExtentKind.Data, FileName, offset);
    }

    public void WriteZeroes(long offset, long length)
    {
        CheckRange(offset, length);
        CheckWritable();
        if (HostFile.TryPunchHole(_file, offset, length)) return;
        try { WriteZeroBytes(offset, length); }
        catch (IOException e) { throw HostError("write zeroes", e); }
    }

    public void Discard(long offset, long length) => WriteZeroes(offset, length);

    private void WriteZeroBytes(long offset, long length)
    {
        byte[] zero = new byte[(int)Math.Min(length, 1 << 20)];
        while (length > 0)
        {
            int n = (int)Math.Min(length, zero.Length);
            RandomAccess.Write(_file, zero.AsSpan(0, n), offset);
            offset += n; length -= n;
        }
    }

    /// <summary>The file's length is the disk size: a grow extends it sparsely (reads as zeroes), a shrink truncates.</summary>
    public void Resize(long newSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckWritable();
        if (newSize < 0) throw new ImageFormatException(FileName, $"size {newSize} is negative");
        try { RandomAccess.SetLength(_file, newSize); }
        catch (IOException e) { throw HostError("resize", e); }
        catch (ArgumentOutOfRangeException) { throw new ImageFormatException(FileName, $"the host file system does not allow a {newSize}-byte file"); }
        Size = newSize;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }
}
