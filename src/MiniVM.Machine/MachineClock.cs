using System.Diagnostics;
using MiniVM.Cpu;
using MiniVM.Devices;

namespace MiniVM.Machine;

/// <summary>
/// Drives <see cref="VirtualClock"/> for the whole machine (<see cref="ClockMode"/>). In virtual mode (the default)
/// time is a pure function of executed instructions — every instruction takes <see cref="NanosecondsPerInstruction"/>
/// — so two runs of the same guest from the same state are identical, and a halted CPU skips straight to its next
/// timer. Paced mode counts instructions the same way but lets a halted CPU wait in real time (QEMU's
/// `-icount sleep=on`); real-time mode follows the host's monotonic clock. In both, the wait sleeps on
/// <see cref="Wake"/>, so an idle guest costs the host almost nothing.
/// </summary>
public sealed class MachineClock
{
    /// <summary>A 100-MIPS guest: fast enough that BIOS waits are short, slow enough for timer interrupts to fit.</summary>
    public const long NanosecondsPerInstruction = 10;

    /// <summary>
    /// Paced mode: a halted guest this far or less behind the host clock catches up deadline by deadline (each due
    /// timer fires at once, no waiting), so a tick-counting guest gets every tick after a late host wake-up. Further
    /// behind — a CPU-bound boot leaves the guest minutes behind — it skips ahead (<see cref="PacedCatchUpStepNs"/> at
    /// a time), so its date reaches the host's within a few wake-ups instead of replaying every missed tick.
    /// </summary>
    public const long PacedCatchUpTickByTickNs = 100_000_000;

    /// <summary>
    /// Paced mode: the longest single catch-up step. Timers that fall due inside a step fire late (a periodic tick
    /// becomes one interrupt), as after a long host stall; a second keeps every guest clock consistent — Linux's
    /// clocksource watchdog compares the TSC with the 24-bit ACPI PM timer, which wraps after 4.7 s.
    /// </summary>
    public const long PacedCatchUpStepNs = 1_000_000_000;

    /// <summary>
    /// Paced mode: the fastest a guest instruction may count. The rate starts at <see cref="NanosecondsPerInstruction"/>
    /// and adapts as QEMU's `-icount shift=auto` does (<see cref="Pace"/>): a running guest ahead of host time counts its
    /// instructions as half as long, one behind twice as long again, so a host that runs the guest faster than 100 MIPS
    /// runs it at its own speed (a CPU-bound boot under the translating engine would otherwise run 2–3 times ahead of the
    /// host and wait the lead out at its first halt: the default Linux VM's boot took 77 s at 10 ns where it needs 31 s).
    /// Guest clocks (TSC, PIT, APIC timer) all read virtual nanoseconds, so they stay consistent with each other.
    /// </summary>
    public const long PacedFastestNsPerInstruction = 1;

    /// <summary>Paced mode: how often the rate is reconsidered, in host time (QEMU's icount_adjust_rt: 1 s; shorter here,
    /// since a boot's busy spells last seconds).</summary>
    public const long PacedAdjustIntervalNs = 100_000_000;

    /// <summary>Paced mode: a lead or lag over host time beyond this changes the rate.</summary>
    public const long PacedDriftNs = 1_000_000;

    private long _nextPaceAdjust;
    private long _nsPerInstruction = NanosecondsPerInstruction;

    private readonly Stopwatch _host = Stopwatch.StartNew();
    private readonly List<ITimerSource> _extraSources = [];
    /// <summary>Real time: guest time at host time 0. Paced: guest time never passes host time − <see cref="_pacedOffset"/>.</summary>
    private long _hostBase, _pacedOffset;
    private X86Cpu? _cpu;
    private ulong _sliceStartInstructions;
    private long _sliceStartTime;

    public MachineClock(ClockMode mode) { Mode = mode; }

    public ClockMode Mode { get; }
    public VirtualClock Clock { get; } = new();

    /// <summary>Host input signals this to end a halted CPU's real-time wait early.</summary>
    public HostWake Wake { get; } = new();

    public void Attach(X86Cpu cpu) => _cpu = cpu;

    /// <summary>
    /// A timer that keeps its own deadline rather than a <see cref="VirtualTimer"/> (a local APIC timer): its deadline
    /// bounds run slices and halted waits like the <see cref="VirtualClock"/>'s.
    /// </summary>
    public void AddTimerSource(ITimerSource source) => _extraSources.Add(source);

    /// <summary>The earliest deadline of every timer source, or long.MaxValue.</summary>
    public long NextDeadline
    {
        get
        {
            long next = Clock.NextDeadline;
            foreach (var s in _extraSources) next = Math.Min(next, s.NextDeadline);
            return next;
        }
    }

    private long HostNanoseconds => (long)(_host.ElapsedTicks * (1e9 / Stopwatch.Frequency));

    /// <summary>Time of the instruction now executing (mid-slice), without firing timers.</summary>
    public long CurrentTime => Mode == ClockMode.Realtime
        ? Math.Max(Clock.Now, _hostBase + HostNanoseconds)
        : _sliceStartTime + (long)((_cpu?.InstructionCount ?? 0) - _sliceStartInstructions) * _nsPerInstruction;

    /// <summary>Marks the start of a CPU run slice.</summary>
    public void BeginSlice()
    {
        _sliceStartInstructions = _cpu?.InstructionCount ?? 0;
        _sliceStartTime = Clock.Now;
    }

    /// <summary>Brings the virtual clock to the current instruction and fires what is due (called on device access).</summary>
    public void Sync()
    {
        long now = CurrentTime;
        if (now > Clock.Now) AdvanceTo(now);
        // Keep CurrentTime consistent after timers fired mid-slice.
        _sliceStartInstructions = _cpu?.InstructionCount ?? 0;
        _sliceStartTime = Clock.Now;
    }

    /// <summary>Moves every timer source to <paramref name="now"/>, firing what falls due in deadline order across sources.</summary>
    private void AdvanceTo(long now)
    {
        while (_extraSources.Count > 0)
        {
            // The earliest due extra source runs after the clock's own timers up to its deadline.
            ITimerSource? first = null;
            long due = long.MaxValue;
            foreach (var s in _extraSources) if (s.NextDeadline < due) { due = s.NextDeadline; first = s; }
            if (first is null || due > now) break;
            if (due > Clock.Now) Clock.AdvanceTo(due);
            first.AdvanceTo(due);
        }
        Clock.AdvanceTo(now);
    }

    /// <summary>How many instructions may run before the next timer is due (at least 1, at most <paramref name="cap"/>).</summary>
    public int InstructionBudget(int cap)
    {
        long next = NextDeadline;
        if (next == long.MaxValue) return cap;
        long ns = next - CurrentTime;
        if (Mode == ClockMode.Realtime) return cap;
        long n = ns / _nsPerInstruction;
        return (int)Math.Clamp(n, 1, cap);
    }

    /// <summary>
    /// With the CPU halted: jump (virtual) or wait (paced, real time; at most <paramref name="maxWait"/>, less when
    /// <see cref="Wake"/> is signalled) towards the next timer. Returns false when none is armed.
    /// </summary>
    public bool WaitForNextTimer(TimeSpan maxWait)
    {
        long next = NextDeadline;
        switch (Mode)
        {
            case ClockMode.Virtual:
                if (next == long.MaxValue) return false;
                AdvanceTo(next);
                break;
            case ClockMode.Realtime:
                if (next == long.MaxValue) { Wake.Wait(maxWait); return false; }
                long wait = next - CurrentTime;
                if (wait > 0) Wake.Wait(TimeSpan.FromTicks(Math.Min(wait / 100, maxWait.Ticks)));
                AdvanceTo(Math.Max(Clock.Now, Math.Min(next, CurrentTime)));
                break;
            case ClockMode.Paced:
                WaitPaced(next, maxWait);
                break;
        }
        BeginSlice();
        return next != long.MaxValue;
    }

    /// <summary>
    /// Paced, after a run slice that did not halt: at most every <see cref="PacedAdjustIntervalNs"/> of host time, halves
    /// what an instruction counts when guest time leads host time, doubles it (up to
    /// <see cref="NanosecondsPerInstruction"/>) when it lags. Called after <see cref="Sync"/>, so the next slice starts
    /// at the new rate.
    /// </summary>
    public void Pace()
    {
        if (Mode != ClockMode.Paced) return;
        long host = HostNanoseconds;
        if (host < _nextPaceAdjust) return;
        _nextPaceAdjust = host + PacedAdjustIntervalNs;
        long drift = Clock.Now - (host - _pacedOffset);
        if (drift > PacedDriftNs) _nsPerInstruction = Math.Max(PacedFastestNsPerInstruction, _nsPerInstruction / 2);
        else if (drift < -PacedDriftNs) _nsPerInstruction = Math.Min(NanosecondsPerInstruction, _nsPerInstruction * 2);
    }

    /// <summary>
    /// Paced idle: guest time may reach host time (less the offset a loadvm set) but never pass it. A deadline still
    /// ahead of that limit is waited for in real time; one already behind it fires at once — the guest catches up the
    /// lag a busy spell (a boot: instructions take longer on the host than their 10 ns) left, as QEMU's icount clock
    /// catches up with real time, so its date matches the host's once it idles. See
    /// <see cref="PacedCatchUpTickByTickNs"/> for how a long lag is skipped. A lead works the other way: a busy guest
    /// whose instructions run faster than their 10 ns each (the translating engine, REP strings) gets ahead of the host
    /// while it runs and waits the lead out at its next halt, as QEMU's `-icount sleep=on` does; <see cref="Pace"/> keeps
    /// that lead small by making its instructions count less.
    /// </summary>
    private void WaitPaced(long next, TimeSpan maxWait)
    {
        long limit = HostNanoseconds - _pacedOffset;
        if (next > limit)
        {
            Wake.Wait(TimeSpan.FromTicks(Math.Min(next - limit, maxWait.Ticks * 100) / 100));
            limit = HostNanoseconds - _pacedOffset;
        }
        long target = Math.Min(next, limit);
        if (limit - Clock.Now > PacedCatchUpTickByTickNs)
            target = Math.Max(target, Math.Min(limit, Clock.Now + PacedCatchUpStepNs));
        if (target > Clock.Now) AdvanceTo(target);
    }

    /// <summary>After loadvm: continue from a saved virtual time (paced and real time: it runs on with the host's from now).</summary>
    public void Restore(long now)
    {
        Clock.Reset(now);
        _hostBase = now - HostNanoseconds;
        _pacedOffset = HostNanoseconds - now;
        BeginSlice();
    }
}
