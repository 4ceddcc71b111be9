using Microsoft.Win32.SafeHandles;

namespace MiniVM.Block;

/// <summary>
/// The request contract every format shares, written once (QEMU's block/io.c does the same for its drivers): one lock
/// per image, the disposed, range and read-only checks, host I/O errors turned into one line naming the image, and the
/// reads every format needs (a host file shorter than the disk, a backing image shorter than the overlay). A format
/// implements only its own business in the <c>…Core</c> methods, which run under <see cref="Gate"/> with the request
/// already checked.
/// </summary>
public abstract class BlockDriver : IBlockDriver
{
    /// <summary>
    /// Serialises requests and the format's other operations (snapshots, check, resize): a device thread and the
    /// monitor may share one image.
    /// </summary>
    protected Lock Gate { get; } = new();

    protected bool IsDisposed { get; private set; }

    public abstract string FormatName { get; }
    public abstract string FileName { get; }
    public abstract long Size { get; }
    public abstract bool IsReadOnly { get; }

    public void Read(long offset, Span<byte> buffer)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckRange(offset, buffer.Length);
            try { ReadCore(offset, buffer); }
            catch (IOException e) { throw HostError("read", e); }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckRange(offset, data.Length);
            CheckWritable();
            try { WriteCore(offset, data); }
            catch (IOException e) { throw HostError("write", e); }
        }
    }

    public void WriteZeroes(long offset, long length)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckRange(offset, length);
            CheckWritable();
            try { WriteZeroesCore(offset, length); }
            catch (IOException e) { throw HostError("write zeroes", e); }
        }
    }

    public void Discard(long offset, long length)
    {
        lock (Gate)
        {
            CheckUsable();
            CheckRange(offset, length);
            CheckWritable();
            try { DiscardCore(offset, length); }
            catch (IOException e) { throw HostError("discard", e); }
        }
    }

    public void Flush()
    {
        lock (Gate)
        {
            CheckUsable();
            try { FlushCore(); }
            catch (IOException e) { throw HostError("flush", e); }
        }
    }

    public Extent GetBlockStatus(long offset, long maxLength)
    {
        lock (Gate)
        {
            CheckUsable();
            if (maxLength <= 0) throw new ImageFormatException(FileName, $"block status length {maxLength} must be positive");
            if (offset < 0 || offset >= Size)
                throw new ImageFormatException(FileName, $"block status at {offset} is outside the disk (size {Size})");
            try { return BlockStatusCore(offset, Math.Min(maxLength, Size - offset)); }
            catch (IOException e) { throw HostError("block status", e); }
        }
    }

    /// <summary>Closes the image once: the format flushes what it holds and releases its files in <see cref="Close"/>.</summary>
    public void Dispose()
    {
        // Outside the gate: background work (FVD's prefetch) takes the gate for each step, so it is stopped first.
        if (!IsDisposed) StopBackgroundWork();
        lock (Gate)
        {
            if (IsDisposed) return;
            IsDisposed = true;
            try { Close(); }
            catch (IOException e) { throw HostError("close", e); }
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Stops and waits for the format's own background work before <see cref="Close"/>; called without the gate held.</summary>
    protected virtual void StopBackgroundWork() { }

    /// <summary>Reads the checked range [offset, offset + buffer.Length).</summary>
    protected abstract void ReadCore(long offset, Span<byte> buffer);

    /// <summary>Writes the checked range; the image is writable.</summary>
    protected abstract void WriteCore(long offset, ReadOnlySpan<byte> data);

    /// <summary>Makes the checked range read as zeroes; the image is writable.</summary>
    protected abstract void WriteZeroesCore(long offset, long length);

    /// <summary>Drops the checked range's content; by default it reads as zeroes afterwards.</summary>
    protected virtual void DiscardCore(long offset, long length) => WriteZeroesCore(offset, length);

    /// <summary>Makes completed writes durable; a read-only image has nothing to do.</summary>
    protected abstract void FlushCore();

    /// <summary>The run at <paramref name="offset"/> (inside the disk), at most <paramref name="length"/> (&gt; 0) bytes.</summary>
    protected abstract Extent BlockStatusCore(long offset, long length);

    /// <summary>Flushes (when writable) and releases the image's files and its backing image.</summary>
    protected abstract void Close();

    /// <summary>Refuses any use after <see cref="Dispose"/>; a format may add states of its own that refuse it.</summary>
    protected virtual void CheckUsable() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>One wording of the range error for every format (QEMU's bdrv_check_request).</summary>
    protected void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size - length)
            throw new ImageFormatException(FileName, $"range {offset}+{length} is outside the disk (size {Size})");
    }

    /// <summary>Why a write is refused now, or null. Formats with more reasons (a corrupt mark, a missing base) add theirs.</summary>
    protected virtual string? WriteRefusal => IsReadOnly ? "image is open read-only" : null;

    protected void CheckWritable()
    {
        if (WriteRefusal is { } why) throw new ImageFormatException(FileName, why);
    }

    /// <summary>A host read or write failed: one line naming the image and the operation, exit 74 at the CLI.</summary>
    protected ImageIOException HostError(string what, IOException e) => new(FileName, what, e);

    /// <summary>
    /// pread until <paramref name="buffer"/> is full; bytes past the end of the file read as zeroes (every format keeps
    /// sparse files that may be shorter than the disk). Returns how many bytes came from the file.
    /// </summary>
    protected static int ReadHost(SafeFileHandle file, long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(file, buffer[done..], offset + done);
            if (n <= 0) { buffer[done..].Clear(); break; }
            done += n;
        }
        return done;
    }

    /// <summary>
    /// Bytes this layer does not hold: the backing image where it reaches, zeroes past its end or without one (a
    /// backing image may be shorter than its overlay; QEMU reads the same).
    /// </summary>
    protected static void ReadBacking(IBlockDriver? backing, long offset, Span<byte> buffer)
    {
        long have = backing is null ? 0 : Math.Clamp(backing.Size - offset, 0, buffer.Length);
        if (have > 0) backing!.Read(offset, buffer[..(int)have]);
        buffer[(int)have..].Clear();
    }
}
