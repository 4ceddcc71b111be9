using System.Diagnostics;
using MiniVM.Cpu;
using MiniVM.Devices;

namespace MiniVM.Machine;

/// <summary>
/// Drives <see cref="VirtualClock"/> for the whole machine. In virtual mode (the default) time is a pure function
/// of executed instructions — every instruction takes <see cref="NanosecondsPerInstruction"/> — so two runs of the
/// same guest from the same state are identical. In real-time mode it follows the host's monotonic clock.
/// Halted CPUs skip straight to the next timer in virtual mode, so an idle guest costs nothing.
/// </summary>
public sealed class MachineClock
{
    /// <summary>A 100-MIPS guest: fast enough that BIOS waits are short, slow enough for timer interrupts to fit.</summary>
    public const long NanosecondsPerInstruction = 10;

    private readonly Stopwatch _host = new();
    private long _hostBase;
    private X86Cpu? _cpu;
    private ulong _sliceStartInstructions;
    private long _sliceStartTime;

    public MachineClock(bool realTime) { RealTime = realTime; _host.Start(); }

    public VirtualClock Clock { get; } = new();
    public bool RealTime { get; }

    public void Attach(X86Cpu cpu) => _cpu = cpu;

    /// <summary>Time of the instruction now executing (mid-slice), without firing timers.</summary>
    public long CurrentTime => RealTime
        ? Math.Max(Clock.Now, _hostBase + (long)(_host.ElapsedTicks * (1e9 / Stopwatch.Frequency)))
        : _sliceStartTime + (long)((_cpu?.InstructionCount ?? 0) - _sliceStartInstructions) * NanosecondsPerInstruction;

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
        if (now > Clock.Now) Clock.AdvanceTo(now);
        // Keep CurrentTime consistent after timers fired mid-slice.
        _sliceStartInstructions = _cpu?.InstructionCount ?? 0;
        _sliceStartTime = Clock.Now;
    }

    /// <summary>How many instructions may run before the next timer is due (at least 1, at most <paramref name="cap"/>).</summary>
    public int InstructionBudget(int cap)
    {
        long next = Clock.NextDeadline;
        if (next == long.MaxValue) return cap;
        long ns = next - CurrentTime;
        if (RealTime) return cap;
        long n = ns / NanosecondsPerInstruction;
        return (int)Math.Clamp(n, 1, cap);
    }

    /// <summary>With the CPU halted: jump (virtual) or wait (real time) to the next timer. Returns false when none is armed.</summary>
    public bool SkipToNextTimer(TimeSpan maxWait)
    {
        long next = Clock.NextDeadline;
        if (next == long.MaxValue)
        {
            if (RealTime) Thread.Sleep(maxWait);
            return false;
        }
        if (RealTime)
        {
            long wait = next - CurrentTime;
            if (wait > 0) Thread.Sleep(TimeSpan.FromTicks(Math.Min(wait / 100, maxWait.Ticks)));
            Clock.AdvanceTo(Math.Max(Clock.Now, Math.Min(next, CurrentTime)));
        }
        else Clock.AdvanceTo(next);
        BeginSlice();
        return true;
    }

    /// <summary>After loadvm: continue from a saved virtual time.</summary>
    public void Restore(long now)
    {
        Clock.Reset(now);
        _hostBase = now - (long)(_host.ElapsedTicks * (1e9 / Stopwatch.Frequency));
        BeginSlice();
    }
}
