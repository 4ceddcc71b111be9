using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

/// <summary>An interrupt wire that remembers its level and every rising edge with the virtual time it happened.</summary>
internal sealed class RecordingIrqLine(VirtualClock? clock = null) : IIrqLine
{
    public bool Level { get; private set; }
    public List<long> RisingEdges { get; } = new();
    public int Changes { get; private set; }

    public void SetLevel(bool asserted)
    {
        if (asserted == Level) return;
        Changes++;
        Level = asserted;
        if (asserted) RisingEdges.Add(clock?.Now ?? 0);
    }
}
