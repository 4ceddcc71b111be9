namespace MiniVM.Machine;

/// <summary>How guest time relates to host time (`clock` in vm.json).</summary>
public enum ClockMode
{
    /// <summary>
    /// Time is a pure function of executed instructions (10 ns each); a halted CPU jumps straight to its next timer.
    /// Runs repeat bit for bit: tests, scripts, savevm/loadvm comparisons.
    /// </summary>
    Virtual,
    /// <summary>
    /// QEMU's `-icount sleep=on`: instructions advance time while the CPU runs, and a halted CPU waits in real time
    /// for its next timer, so an idle guest keeps pace with the wall clock (its `sleep 2` takes two seconds) and costs
    /// the host almost nothing. A busy guest may fall behind the wall clock; idling never puts it ahead.
    /// </summary>
    Paced,
    /// <summary>Time follows the host's monotonic clock whatever the CPU does.</summary>
    Realtime,
}
