namespace MiniVM.Devices;

/// <summary>
/// The machine's notion of time in nanoseconds. In the default (deterministic) mode the machine advances it from
/// executed instructions, like QEMU's icount, so a run is reproducible; in real-time mode from the host clock.
/// Devices never read host time: they read <see cref="Now"/> and arm <see cref="VirtualTimer"/>s.
/// </summary>
public sealed class VirtualClock : ITimerSource
{
    private readonly List<VirtualTimer> _armed = new();

    public long Now { get; private set; }

    /// <summary>Deadline of the earliest armed timer, or long.MaxValue.</summary>
    public long NextDeadline { get; private set; } = long.MaxValue;

    public VirtualTimer CreateTimer(Action<long> callback) => new(this, callback);

    /// <summary>
    /// Moves time forward to <paramref name="now"/> and runs every timer that is due, in deadline order. While a
    /// callback runs, <see cref="Now"/> is that timer's deadline, so whatever it observes or raises (an IRQ edge,
    /// a status bit) happens at the virtual time it was due, not at the end of the step.
    /// </summary>
    public void AdvanceTo(long now)
    {
        if (now < Now) return;
        while (NextDeadline <= now)
        {
            var t = _armed[0];
            long due = t.Deadline;
            Disarm(t);
            if (due > Now) Now = due;
            t.Fire(due);
        }
        Now = now;
    }

    /// <summary>Restores the clock after loadvm; timers are re-armed by their devices' Load.</summary>
    public void Reset(long now)
    {
        foreach (var t in _armed.ToArray()) Disarm(t);
        Now = now;
    }

    internal void Arm(VirtualTimer t)
    {
        _armed.Remove(t);
        int i = 0;
        while (i < _armed.Count && _armed[i].Deadline <= t.Deadline) i++;
        _armed.Insert(i, t);
        t.IsArmed = true;
        NextDeadline = _armed[0].Deadline;
    }

    internal void Disarm(VirtualTimer t)
    {
        if (!t.IsArmed) return;
        _armed.Remove(t);
        t.IsArmed = false;
        NextDeadline = _armed.Count > 0 ? _armed[0].Deadline : long.MaxValue;
    }
}

/// <summary>A one-shot callback at a virtual time; periodic devices re-arm it from the callback.</summary>
public sealed class VirtualTimer
{
    private readonly VirtualClock _clock;
    private readonly Action<long> _callback;

    internal VirtualTimer(VirtualClock clock, Action<long> callback) { _clock = clock; _callback = callback; }

    public long Deadline { get; private set; }
    public bool IsArmed { get; internal set; }

    public void Arm(long deadline) { Deadline = deadline; _clock.Arm(this); }
    public void Cancel() => _clock.Disarm(this);
    internal void Fire(long due) => _callback(due);
}
