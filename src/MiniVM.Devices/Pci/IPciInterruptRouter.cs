namespace MiniVM.Devices.Pci;

/// <summary>Where the board's PCI INTx wires go (on the PIIX3: the PIRQ swizzle and its routing registers).</summary>
public interface IPciInterruptRouter
{
    /// <summary>A new input for interrupt pin <paramref name="pin"/> (0 = INTA#) of the function at <paramref name="device"/>.</summary>
    IIrqLine GetIntxLine(int device, int pin);
}
