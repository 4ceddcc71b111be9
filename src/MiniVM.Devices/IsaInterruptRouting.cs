namespace MiniVM.Devices;

/// <summary>
/// Each ISA IRQ wire goes to both interrupt controllers of the PIIX3 board: the 8259 pair and the I/O APIC. The
/// I/O APIC sees IRQ n on pin n, except IRQ0 (the PIT) on pin 2, where the 8259 cascade would be — the interrupt
/// source override SeaBIOS declares when fw_cfg's etc/irq0-override is set (QEMU's ioapic_set_irq does the same).
/// The guest chooses which controller it listens to by masking the other. The board wires both controllers to it
/// when it is added; a wire that reaches no controller yet goes nowhere.
/// </summary>
public sealed class IsaInterruptRouting : IIsaInterrupts, IWiredTo<DualPic>, IWiredTo<IoApic>
{
    private DualPic? _pic;
    private IoApic? _ioapic;
    private readonly IrqInput[] _lines = new IrqInput[16];

    public IsaInterruptRouting()
    {
        for (int i = 0; i < 16; i++) _lines[i] = new IrqInput(this, i);
    }

    public void WireTo(DualPic pic) =>
        _pic = _pic is null ? pic : throw new InvalidOperationException("the ISA IRQs are already wired to the 8259s");

    public void WireTo(IoApic ioapic) =>
        _ioapic = _ioapic is null ? ioapic : throw new InvalidOperationException("the ISA IRQs are already wired to the I/O APIC");

    /// <summary>The I/O APIC pin ISA IRQ <paramref name="irq"/> arrives at.</summary>
    public static int IoApicPin(int irq) => irq == 0 ? 2 : irq;

    public IIrqLine GetLine(int irq)
    {
        if ((uint)irq > 15) throw new ArgumentOutOfRangeException(nameof(irq), irq, "ISA IRQ must be 0..15");
        return _lines[irq == 2 ? 9 : irq];
    }

    public void SetIrq(int irq, bool level)
    {
        if (irq == 2) irq = 9;
        _pic?.SetIrq(irq, level);
        _ioapic?.SetInput(IoApicPin(irq), level);
    }

    private sealed class IrqInput(IsaInterruptRouting routing, int irq) : IIrqLine
    {
        public void SetLevel(bool asserted) => routing.SetIrq(irq, asserted);
    }
}
