namespace MiniVM.Devices;

/// <summary>
/// The sixteen ISA IRQ wires as the devices and the PIIX3's PIRQ router drive them (IRQ2 meaning 9). The board
/// connects every device's ISA <see cref="IrqOutput"/> here (<see cref="IsaInterruptRouting"/> on the PC).
/// </summary>
public interface IIsaInterrupts
{
    /// <summary>The input wire for ISA IRQ <paramref name="irq"/> (0..15).</summary>
    IIrqLine GetLine(int irq);

    /// <summary>Drives IRQ <paramref name="irq"/> (0..15) to <paramref name="level"/>.</summary>
    void SetIrq(int irq, bool level);
}
