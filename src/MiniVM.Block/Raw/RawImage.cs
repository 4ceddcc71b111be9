using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block.Raw;

/// <summary>A raw image: guest byte N is host byte N. Holes in the host file are unallocated (read as zeroes).</summary>
public sealed class RawImage : BlockDriver, IImageInfo, IExtentOwners, IResizable
{
    private readonly SafeFileHandle _file;
    private long _size;

    private RawImage(string fileName, SafeFileHandle file, long size, bool readOnly)
    {
        FileName = fileName; _file = file; _size = size; IsReadOnly = readOnly;
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

    public override string FormatName => "raw";
    public override string FileName { get; }
    public override long Size => _size;
    public override bool IsReadOnly { get; }
    public long ClusterSize => 0;
    public long DiskUsage => HostFile.AllocatedBytes(FileName);
    public IReadOnlyList<string> Files => [FileName];
    public IReadOnlyList<KeyValuePair<string, string>> FormatSpecific => [];

    public IReadOnlyList<ExtentOwner> ExtentOwners => [new(FileName, Path.GetFileName(FileName))];

    protected override void ReadCore(long offset, Span<byte> buffer) => ReadHost(_file, offset, buffer);

    protected override void WriteCore(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_file, data, offset);

    protected override void FlushCore()
    {
        if (!IsReadOnly) HostFile.SyncData(_file, FileName);
    }

    protected override Extent BlockStatusCore(long offset, long length)
    {
        if (HostFile.TryGetAllocation(_file, offset, Size, out bool isData, out long runEnd) && runEnd > offset)
            return new Extent(offset, Math.Min(length, runEnd - offset), isData ? ExtentKind.Data : ExtentKind.Zero,
                isData ? FileName : null, isData ? offset : -1);
        return new Extent(offset, length, ExtentKind.Data, FileName, offset);
    }

    protected override void WriteZeroesCore(long offset, long length)
    {
        if (!HostFile.TryPunchHole(_file, offset, length)) WriteZeroBytes(offset, length);
    }

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
        lock (Gate)
        {
            CheckUsable();
            CheckWritable();
            if (newSize < 0) throw new ImageFormatException(FileName, $"size {newSize} is negative");
            try { RandomAccess.SetLength(_file, newSize); }
            catch (IOException e) { throw HostError("resize", e); }
            catch (ArgumentOutOfRangeException) { throw new ImageFormatException(FileName, $"the host file system does not allow a {newSize}-byte file"); }
            _size = newSize;
        }
    }

    protected override void Close() => _file.Dispose();
}
