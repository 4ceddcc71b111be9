namespace MiniVM.Block;

/// <summary>
/// Capability: the image can copy every still-unset block of its base image into itself, after which the base is
/// no longer needed (FVD's whole-image prefetch, fvd.md §3.7). Only an image open read-write with its base has work.
/// </summary>
public interface IBasePrefetch
{
    /// <summary>Whether some of the guest disk still lives in the base image (and this open could copy it).</summary>
    bool PrefetchPending { get; }

    /// <summary>
    /// Copies the base's remaining blocks in windows, through the copy-on-read path, then records that all data is in
    /// the image. <paramref name="throttle"/> applies the image's own adaptive throttling (pauses when the measured
    /// throughput drops under its minimum); <paramref name="progress"/> hears blocks done out of the total.
    /// Crash-safe at every step: until the end is recorded the base is still consulted for every block not yet durable.
    /// </summary>
    void Prefetch(Action<PrefetchProgress>? progress, bool throttle, CancellationToken cancel);
}

/// <summary>How far a prefetch has come: bytes of the base region that live in the image, out of that region's size.</summary>
public readonly record struct PrefetchProgress(long Done, long Total);
