using MiniVM.Devices;

namespace MiniVM.Devices.Tests;

/// <summary>What the board does when a device is added, for a device tested on its own: its outputs to test lines.</summary>
internal static class WiredDevice
{
    /// <summary>Connects the device's interrupt outputs, in the order it declares them, to <paramref name="lines"/>.</summary>
    public static T Wired<T>(this T device, params IIrqLine[] lines) where T : IInterruptSource
    {
        if (lines.Length != device.IrqOutputs.Count)
            throw new ArgumentException($"{typeof(T).Name} has {device.IrqOutputs.Count} interrupt outputs, {lines.Length} lines given");
        for (int i = 0; i < lines.Length; i++) device.IrqOutputs[i].Connect(lines[i]);
        return device;
    }
}
