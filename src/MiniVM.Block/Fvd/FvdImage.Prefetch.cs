using System.Diagnostics;

namespace MiniVM.Block.Fvd;

/// <summary>
/// Whole-image prefetch (fvd.md §3.7): the base's unset blocks are copied into the image window by window, each as a
/// copy-on-read "soft" write (data stored, fresh bits set, nothing journaled), throttled by <see cref="FvdPrefetchThrottle"/>.
/// When no unset block is left, the bitmap and table are made durable and only then all_data_in_fvd_img is set, in the
/// header's first sector: a crash before that leaves an image that still reads unset blocks from the base (whose bytes
/// are the ones copied), a crash after it one that never opens the base again (fvd.md §3.2 step 5).
/// The synchronous driver holds its one lock for a window at a time, so guest requests interleave between windows and a
/// window never races a guest write (the original's copy locks are not needed).
/// </summary>
public sealed partial class FvdImage : IBasePrefetch
{
    /// <summary>A window bigger than this is not faster, and bytes_per_prefetch comes from a possibly hostile header.</summary>
    private const int MaxPrefetchWindow = 16 << 20;
    /// <summary>Copied windows between checkpoints: prefetched bits become durable as it goes, so a restart keeps most of the work.</summary>
    private const int WindowsPerCheckpoint = 32;

    private CancellationTokenSource? _prefetchCancel;
    private Thread? _prefetchThread;

    /// <summary>Why the background prefetch stopped early (fvd.md §3.7 step 6: an error disables it), or null.</summary>
    public string? PrefetchError { get; private set; }

    public bool PrefetchPending
    {
        get
        {
            using var gate = Gate.EnterScope();
            return !IsDisposed && _h.HasBitmap && _writable && _backing is not null;
        }
    }

    public void Prefetch(Action<PrefetchProgress>? progress, bool throttle, CancellationToken cancel)
    {
        long blocks;
        int window;
        long done;
        using (Gate.EnterScope())
        {
            CheckUsable();
            if (!_h.HasBitmap) { progress?.Invoke(new PrefetchProgress(_baseEnd, _baseEnd)); return; }
            CheckWritable();
            // Prefetched bits are soft: from now on the journaled (stale) bits must be kept apart (fvd.md §3.2 step 5.4),
            // or a guest write to a prefetched block would not be journaled and a crash would show the base over it.
            if (ReferenceEquals(_stale, _fresh)) _stale = (byte[])_fresh.Clone();
            blocks = _h.BlockCount;
            window = (int)Math.Max(_blockSize, Math.Min(MaxPrefetchWindow, Math.Max(_h.BytesPerPrefetch, 0)) / _blockSize * _blockSize);
            done = blocks - CountUnset(blocks);
        }
        var throttling = throttle ? new FvdPrefetchThrottle(_h, Random.Shared) : null;
        var buffer = new byte[window];
        long cursor = 0;
        int sinceCheckpoint = 0;
        progress?.Invoke(new PrefetchProgress(Math.Min(done * _blockSize, _baseEnd), _baseEnd));
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            long copied;
            double readMs, writeMs;
            using (Gate.EnterScope())
            {
                CheckUsable();
                copied = PrefetchWindow(ref cursor, blocks, buffer, out readMs, out writeMs);
                if (copied > 0 && ++sinceCheckpoint >= WindowsPerCheckpoint)
                {
                    WriteCheckpoint();
                    sinceCheckpoint = 0;
                }
            }
            if (copied == 0) break;
            done += copied;
            progress?.Invoke(new PrefetchProgress(Math.Min(done * _blockSize, _baseEnd), _baseEnd));
            if (throttling?.Account(readMs, writeMs, copied * _blockSize) is { } pause && pause > TimeSpan.Zero)
                cancel.WaitHandle.WaitOne(pause);
        }
        using (Gate.EnterScope())
        {
            CheckUsable();
            FinishPrefetch(blocks);
        }
        progress?.Invoke(new PrefetchProgress(_baseEnd, _baseEnd));
    }

    private long CountUnset(long blocks)
    {
        long unset = 0;
        for (long b = RunEnd(_fresh, 0, true, blocks); b < blocks;)
        {
            long e = RunEnd(_fresh, b, false, blocks);
            unset += e - b;
            b = RunEnd(_fresh, e, true, blocks);
        }
        return unset;
    }

    /// <summary>
    /// Copies the first run of unset blocks at or after <paramref name="cursor"/>, at most one window long, and returns
    /// how many blocks it copied (0: none left). Bits are only ever set, so one pass from block 0 finds every block.
    /// </summary>
    private long PrefetchWindow(ref long cursor, long blocks, byte[] buffer, out double readMs, out double writeMs)
    {
        readMs = writeMs = 0;
        if (!_h.HasBitmap) return 0;
        long first = RunEnd(_fresh, cursor, true, blocks);
        if (first >= blocks) { cursor = blocks; return 0; }
        long end = RunEnd(_fresh, first, false, Math.Min(blocks, first + buffer.Length / _blockSize));
        long from = first * _blockSize, to = Math.Min(end * _blockSize, _baseEnd);
        var span = buffer.AsSpan(0, (int)(to - from));
        long start = Stopwatch.GetTimestamp();
        ReadBacking(_backing, from, span);
        readMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        start = Stopwatch.GetTimestamp();
        long allocatedBefore = _nextChunk;
        // Zeroes are stored as zeroes (a hole, or nothing for an empty chunk), never skipped: the data area under an
        // unset bit may hold bytes of a write that a crash left unrecorded.
        if (span.IndexOfAnyExcept((byte)0) < 0) Store(from, default, span.Length, zero: true);
        else Store(from, span, span.Length, zero: false);
        for (long b = first; b < end; b++)
        {
            SetBit(_fresh, b);
            _bitmapPageDirty[(b >> 3) / FvdHeader.Page] = true;
        }
        _metadataDirty = true;
        if (_nextChunk != allocatedBefore) Record(from, to, bitmap: false, table: true);
        WriteThroughJournal();
        writeMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        cursor = end;
        return end - first;
    }

    /// <summary>fvd.md §3.7 step 7: bitmap and table durable first, then the header flag; the base is closed for good.</summary>
    private void FinishPrefetch(long blocks)
    {
        if (!_h.HasBitmap) return;
        if (RunEnd(_fresh, 0, true, blocks) < blocks)
            throw new ImageFormatException(FileName, "prefetch ended with blocks still in the base image");
        Array.Fill(_bitmapPageDirty, true);
        WriteCheckpoint();
        _h.AllDataInFvdImage = true;
        var header = new byte[FvdHeader.Length];
        _h.WriteTo(header);
        // all_data_in_fvd_img lives in the first sector, which a sector-atomic write either changes or not.
        WriteMeta(0, header.AsSpan(0, FvdHeader.Sector));
        SyncMeta();
        CopyOnRead = false;
        _backing?.Dispose();
        _backing = null;
    }

    /// <summary>A running VM's prefetch (fvd.md §3.2 step 10): after prefetch_start_delay seconds, in the background.</summary>
    private void ArmBackgroundPrefetch()
    {
        if (!_writable || !_h.HasBitmap || _backing is null || _h.PrefetchStartDelay <= 0) return;
        _prefetchCancel = new CancellationTokenSource();
        var cancel = _prefetchCancel.Token;
        var delay = TimeSpan.FromSeconds(_h.PrefetchStartDelay);
        // One thread of its own with a small stack, sleeping through the delay: no timer or pool thread to start, which
        // in a process under an address-space limit (a VM's guest RAM, prlimit --as) can fail for want of a stack.
        _prefetchThread = new Thread(() =>
        {
            try
            {
                if (cancel.WaitHandle.WaitOne(delay)) return;
                Prefetch(null, throttle: true, cancel);
            }
            catch (OperationCanceledException) { }
            catch (ObjectDisposedException) { }
            catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
            {
                PrefetchError = e.Message;
            }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "FVD prefetch" };
        _prefetchThread.Start();
    }

    /// <summary>Close stops the prefetch first (fvd.md §3.8); called before the driver's lock is taken.</summary>
    protected override void StopBackgroundWork() => StopBackgroundPrefetch();

    private void StopBackgroundPrefetch()
    {
        if (_prefetchCancel is null) return;
        _prefetchCancel.Cancel();
        _prefetchThread?.Join();
        _prefetchCancel.Dispose();
        _prefetchCancel = null;
        _prefetchThread = null;
    }
}
