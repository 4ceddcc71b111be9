namespace MiniVM.Machine;

/// <summary>
/// What a halted CPU sleeps on while it waits in real time for its next timer (paced and real-time clocks): host
/// input — a key, a byte for the serial port, a monitor command, a stop request — signals it, so the guest sees the
/// input at once instead of at its next timer tick, and the wait never spins.
/// </summary>
public sealed class HostWake
{
    private readonly AutoResetEvent _event = new(false);

    /// <summary>Ends the current (or the next) wait early. Any thread.</summary>
    public void Signal() => _event.Set();

    /// <summary>Sleeps up to <paramref name="timeout"/>; true when <see cref="Signal"/> ended the wait.</summary>
    /// <remarks>Rounded up to whole milliseconds (the wait's resolution): waking early would only mean waiting again.</remarks>
    public bool Wait(TimeSpan timeout) => _event.WaitOne((int)Math.Ceiling(Math.Clamp(timeout.TotalMilliseconds, 0, int.MaxValue)));
}
