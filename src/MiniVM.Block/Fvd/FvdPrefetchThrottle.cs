namespace MiniVM.Block.Fvd;

/// <summary>
/// The adaptive throttle of fvd.md §3.7 step 4, kept apart for reads and for writes: op time and bytes accumulate
/// until they span the header's measure time; that round's throughput feeds an EWMA (weight prefetch_perf_calc_alpha);
/// when the average falls under the minimum, a coin decides between pausing (for 1 … prefetch_throttle_time ms, uniform)
/// and forgetting the average. The coin keeps VMs that compete for one disk from backing off in step.
/// </summary>
internal sealed class FvdPrefetchThrottle
{
    private readonly Meter _read, _write;
    private readonly int _throttleMs;
    private readonly Random _random;

    public FvdPrefetchThrottle(FvdHeader h, Random random)
    {
        double alpha = Math.Clamp(h.PrefetchPerfCalcAlpha, 0, 100) / 100.0;
        // KB/s to bytes per ms (fvd.md §3.2: 5120 KB/s -> 5242.88 B/ms).
        _read = new Meter(Math.Max(1, h.PrefetchReadThroughputMeasureTime), alpha, h.PrefetchMinReadThroughput * 1024.0 / 1000);
        _write = new Meter(Math.Max(1, h.PrefetchWriteThroughputMeasureTime), alpha, h.PrefetchMinWriteThroughput * 1024.0 / 1000);
        _throttleMs = h.PrefetchThrottleTime;
        _random = random;
    }

    /// <summary>Throttling is active only when the throttle time is positive (fvd.md §3.7 step 4).</summary>
    public bool Active => _throttleMs > 0;

    /// <summary>Accounts one read and one write of the same bytes; returns how long to pause, or zero.</summary>
    public TimeSpan Account(double readMs, double writeMs, long bytes)
    {
        if (!Active) return TimeSpan.Zero;
        bool slow = _read.Add(readMs, bytes, _random) | _write.Add(writeMs, bytes, _random);
        if (!slow) return TimeSpan.Zero;
        // A pause ends with fresh statistics (step 5).
        _read.Reset();
        _write.Reset();
        return TimeSpan.FromMilliseconds(_random.Next(1, _throttleMs + 1));
    }

    private sealed class Meter(int measureMs, double alpha, double minBytesPerMs)
    {
        private double _ms;
        private long _bytes;
        private double? _average;

        /// <summary>True when this round asks for a pause.</summary>
        public bool Add(double ms, long bytes, Random random)
        {
            _ms += ms;
            _bytes += bytes;
            if (_ms <= measureMs) return false;
            double round = _bytes / _ms;
            _average = _average is { } a ? alpha * a + (1 - alpha) * round : round;
            _ms = 0;
            _bytes = 0;
            if (_average >= minBytesPerMs) return false;
            if (random.Next(2) == 0) return true;
            _average = null;
            return false;
        }

        public void Reset()
        {
            _ms = 0;
            _bytes = 0;
            _average = null;
        }
    }
}
