namespace MiniVM.Devices;

/// <summary>
/// A device that raises interrupts. It declares its outputs (ISA IRQ numbers, PCI INTx pins) instead of being handed
/// controller inputs, and the board wires every one of them when the device is added, so none is left unconnected.
/// </summary>
public interface IInterruptSource
{
    IReadOnlyList<IrqOutput> IrqOutputs { get; }
}
