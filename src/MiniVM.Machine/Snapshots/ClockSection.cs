using MiniVM.Devices;

namespace MiniVM.Machine.Snapshots;

/// <summary>
/// The virtual clock, and with it a machine reset requested but not yet performed (the runner does it between slices).
/// It is the first section of a stream because restoring the clock cancels every timer, and the devices loaded
/// after it re-arm theirs (VirtualClock.Reset).
/// </summary>
public sealed class ClockSection(MachineClock clock, Func<bool> resetPending, Action<bool> setResetPending) : ISnapshottable
{
    public string SectionId => "clock";
    public int SectionVersion => 1;

    public void SaveState(StateWriter writer)
    {
        writer.Write(clock.Clock.Now);
        writer.Write(resetPending());
    }

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        long now = reader.ReadInt64();
        if (now < 0) throw new StateFormatException($"section {SectionId}: virtual clock {now} is negative");
        bool reset = reader.ReadBool();
        clock.Restore(now);
        setResetPending(reset);
    }
}
