namespace MiniVM.Devices;

/// <summary>
/// One interrupt output of a device and where the board wires it: an ISA IRQ number, or a PCI INTx pin (which the
/// board's PCI interrupt router turns into a PIRQ from the function's device number). The device drives it like any
/// <see cref="IIrqLine"/>; the board <see cref="Connect"/>s it when the device is added (<see cref="IInterruptSource"/>).
/// </summary>
public sealed class IrqOutput : IIrqLine
{
    private IIrqLine? _line;
    private bool _level;

    private IrqOutput(int? isaIrq, int? pciPin)
    {
        IsaIrq = isaIrq;
        PciPin = pciPin;
    }

    /// <summary>An output wired to ISA IRQ <paramref name="irq"/> (0..15).</summary>
    public static IrqOutput Isa(int irq) =>
        (uint)irq <= 15 ? new(irq, null) : throw new ArgumentOutOfRangeException(nameof(irq), irq, "ISA IRQ must be 0..15");

    /// <summary>A PCI function's interrupt pin <paramref name="pin"/> (0 = INTA# .. 3 = INTD#).</summary>
    public static IrqOutput PciIntx(int pin) =>
        (uint)pin <= 3 ? new(null, pin) : throw new ArgumentOutOfRangeException(nameof(pin), pin, "interrupt pin must be 0..3 (INTA..INTD)");

    /// <summary>The ISA IRQ this output is wired to, or null for a PCI pin.</summary>
    public int? IsaIrq { get; }

    /// <summary>The PCI interrupt pin (0 = INTA#), or null for an ISA IRQ.</summary>
    public int? PciPin { get; }

    /// <summary>The value of the configuration-space Interrupt Pin register for a PCI pin (1 = INTA#).</summary>
    public byte PinRegister => (byte)(PciPin + 1 ?? 0);

    public bool IsConnected => _line is not null;

    /// <summary>
    /// Wires the output to the controller input <paramref name="line"/>, once. A level the device already drives
    /// (set before it was on a board) reaches the input now, as a wire plugged into an asserted output would.
    /// </summary>
    public void Connect(IIrqLine line)
    {
        if (_line is not null) throw new InvalidOperationException($"interrupt output {this} is already wired");
        _line = line;
        if (_level) line.SetLevel(true);
    }

    /// <summary>Drives the output; until it is connected the level goes nowhere (a device not on a board).</summary>
    public void SetLevel(bool asserted)
    {
        _level = asserted;
        _line?.SetLevel(asserted);
    }

    public override string ToString() => IsaIrq is { } irq ? $"IRQ{irq}" : $"INT{(char)('A' + PciPin!.Value)}#";
}
