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

    /// <summary>Connects every ISA output of the device to its IRQ on <paramref name="isa"/>, as the board does.</summary>
    public static T WiredTo<T>(this T device, IIsaInterrupts isa) where T : IInterruptSource =>
        device.Wired(device.IrqOutputs.Select(o => isa.GetLine(o.IsaIrq!.Value)).ToArray());

    /// <summary>The ISA IRQ wires of a PIIX3 board, wired to <paramref name="pic"/> and <paramref name="ioapic"/> as the board does.</summary>
    public static IsaInterruptRouting IsaRouting(DualPic pic, IoApic ioapic)
    {
        var routing = new IsaInterruptRouting();
        routing.WireTo(pic);
        routing.WireTo(ioapic);
        return routing;
    }

    /// <summary>A local APIC with the 8259 pair on LINT0, and an I/O APIC sending to it, as the board wires them.</summary>
    public static (LocalApic Lapic, IoApic IoApic) Apics(VirtualClock clock, DualPic pic)
    {
        var lapic = new LocalApic(clock);
        lapic.WireTo(pic);
        var ioapic = new IoApic();
        ioapic.WireTo(lapic);
        return (lapic, ioapic);
    }
}
