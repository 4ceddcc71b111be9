namespace MiniVM.Devices;

/// <summary>
/// Something that has guest-time deadlines: the machine asks every source for its earliest one to size a run slice
/// and, when the CPU halts, to know how long to wait. <see cref="VirtualClock"/> (every <see cref="VirtualTimer"/>:
/// PIT, RTC, UART, ...) is one; a timer that keeps its own deadline (a local APIC timer) registers itself as another.
/// </summary>
public interface ITimerSource
{
    /// <summary>The earliest guest time (ns) at which this source has something to do, or long.MaxValue.</summary>
    long NextDeadline { get; }

    /// <summary>Guest time has reached <paramref name="now"/>: do what was due up to it.</summary>
    void AdvanceTo(long now);
}
