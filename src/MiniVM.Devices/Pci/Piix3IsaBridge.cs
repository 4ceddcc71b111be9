namespace MiniVM.Devices.Pci;

/// <summary>
/// The PIIX3 PCI-to-ISA bridge function (8086:7000, 82371SB datasheet §2), by default at 01.0 and multi-function
/// because the IDE controller is 01.1. Its PIRQ route control registers 0x60-0x63 steer PCI interrupts PIRQA-D
/// onto ISA IRQs (bit 7 = disabled). PCI functions assert INTx through <see cref="GetIntxLine"/>; each source is one
/// input of a wired-OR on its PIRQ, and an ISA IRQ is asserted while any PIRQ routed to it is. The bridge drives the
/// ISA IRQs a PIRQ can be routed to as its <see cref="IrqOutputs"/>, which the board wires like any device's.
/// The edge/level control registers (ELCR, 0x4D0/0x4D1) live in <see cref="DualPic"/>.
/// </summary>
public sealed class Piix3IsaBridge : IPciFunction, ISnapshottable, IResettable, IPciInterruptRouter, IInterruptSource
{
    private const int PirqRoute = 0x60;
    // PIIX3 §2.2.13: route values 0-2, 8 and 13 are reserved.
    private const int RoutableIrqs = 0b1101_1110_1111_1000;

    private readonly IrqOutput?[] _isaIrqs = new IrqOutput?[16]; // the routable ones
    private readonly PciConfigSpace _config;
    private readonly int[] _assertedSources = new int[4];
    private readonly bool[] _irqDriven = new bool[16];
    private readonly List<PirqSource> _sources = new();

    public Piix3IsaBridge(int device = 1)
    {
        if ((uint)device > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "PCI device number must be 0..31");
        for (int irq = 0; irq < 16; irq++)
            if ((RoutableIrqs & (1 << irq)) != 0) _isaIrqs[irq] = IrqOutput.Isa(irq);
        IrqOutputs = _isaIrqs.OfType<IrqOutput>().ToArray();
        Device = device;
        _config = new PciConfigSpace(0x8086, 0x7000, classCode: 0x06, subclass: 0x01, multiFunction: true);
        _config.SetWritable(0x4C, 0xB4); // ISA clock, X-bus, PIRQ routes, TOM, misc, MBIRQ, MBDMA, APIC, DLC, SMI
        _config.Written += OnConfigWritten;
        Reset();
    }

    public int Device { get; }

    /// <summary>The ISA IRQs a PIRQ can be routed to (3-7, 9-12, 14, 15), in IRQ order.</summary>
    public IReadOnlyList<IrqOutput> IrqOutputs { get; }
    public int Function => 0;
    public string SectionId => "piix3";
    public int SectionVersion => 1;

    public PciConfigSpace Config => _config;

    /// <summary>Register defaults after reset, as QEMU's piix3_reset.</summary>
    public void Reset()
    {
        var c = _config.Bytes;
        c[0x04] = 0x07; c[0x05] = 0x00; c[0x06] = 0x00; c[0x07] = 0x02;
        c[0x4C] = 0x4D; c[0x4E] = 0x03; c[0x4F] = 0x00;
        c[0x60] = 0x80; c[0x61] = 0x80; c[0x62] = 0x80; c[0x63] = 0x80;
        c[0x69] = 0x02; c[0x70] = 0x80; c[0x76] = 0x0C; c[0x77] = 0x0C; c[0x78] = 0x02; c[0x79] = 0x00;
        c[0x80] = 0x00; c[0x82] = 0x00; c[0xA0] = 0x08;
        c[0xA2] = 0x00; c[0xA3] = 0x00; c[0xA4] = 0x00; c[0xA5] = 0x00; c[0xA6] = 0x00; c[0xA7] = 0x00;
        c[0xA8] = 0x0F; c[0xAA] = 0x00; c[0xAB] = 0x00; c[0xAC] = 0x00; c[0xAE] = 0x00;
        UpdateIrqs();
    }

    /// <summary>
    /// A new interrupt source on PIRQ <paramref name="pirq"/> (0..3 = PIRQA..PIRQD). Each call returns a separate
    /// input of the wired-OR, so two devices sharing a PIRQ do not cancel each other.
    /// </summary>
    public IIrqLine GetPirq(int pirq)
    {
        if ((uint)pirq > 3) throw new ArgumentOutOfRangeException(nameof(pirq), pirq, "PIRQ must be 0..3 (A..D)");
        var source = new PirqSource(this, pirq);
        _sources.Add(source);
        return source;
    }

    /// <summary>
    /// The INTx line of the function at <paramref name="device"/> with interrupt pin <paramref name="pin"/>
    /// (0 = INTA# .. 3 = INTD#), swizzled onto PIRQ (device + pin - 1) mod 4 as on QEMU's i440FX board.
    /// </summary>
    public IIrqLine GetIntxLine(int device, int pin)
    {
        if ((uint)device > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "PCI device number must be 0..31");
        if ((uint)pin > 3) throw new ArgumentOutOfRangeException(nameof(pin), pin, "interrupt pin must be 0..3 (INTA..INTD)");
        return GetPirq((device + pin - 1) & 3);
    }

    /// <summary>The ISA IRQ PIRQ <paramref name="pirq"/> is routed to, or -1 while disabled.</summary>
    public int GetPirqRoute(int pirq)
    {
        byte route = _config.Bytes[PirqRoute + pirq];
        int irq = route & 0x0F;
        return (route & 0x80) == 0 && (RoutableIrqs & (1 << irq)) != 0 ? irq : -1;
    }

    public uint ReadConfig(int offset, int size) => _config.Read(offset, size);

    public void WriteConfig(int offset, int size, uint value) => _config.Write(offset, size, value);

    private void OnConfigWritten(int offset, int size)
    {
        if (offset < PirqRoute + 4 && PirqRoute < offset + size) UpdateIrqs();
    }

    private void SourceChanged(int pirq, bool asserted)
    {
        _assertedSources[pirq] += asserted ? 1 : -1;
        UpdateIrqs();
    }

    /// <summary>Drives each routable ISA IRQ to the OR of the PIRQs routed to it; only changes reach the controllers.</summary>
    private void UpdateIrqs()
    {
        Span<bool> level = stackalloc bool[16];
        for (int p = 0; p < 4; p++)
        {
            int irq = GetPirqRoute(p);
            if (irq < 0) continue;
            if (_assertedSources[p] > 0) level[irq] = true;
        }
        for (int irq = 0; irq < 16; irq++)
        {
            // An IRQ no PIRQ points at any more is released (level false); one still routed follows its PIRQs.
            if (level[irq] == _irqDriven[irq]) continue;
            _irqDriven[irq] = level[irq];
            _isaIrqs[irq]!.SetLevel(level[irq]); // only routable IRQs are ever driven
        }
    }

    public void SaveState(StateWriter writer)
    {
        _config.Save(writer);
        writer.Write(_sources.Count);
        foreach (var s in _sources) writer.Write(s.Level);
    }

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _config.Load(reader);
        int n = reader.ReadInt32();
        if (n != _sources.Count) throw new StateFormatException($"section {SectionId}: {n} interrupt sources saved, this machine wires {_sources.Count}");
        Array.Clear(_assertedSources);
        foreach (var s in _sources)
        {
            s.Level = reader.ReadBool();
            if (s.Level) _assertedSources[s.Pirq]++;
        }
        UpdateIrqs();
    }

    private sealed class PirqSource(Piix3IsaBridge bridge, int pirq) : IIrqLine
    {
        public int Pirq => pirq;
        public bool Level;

        public void SetLevel(bool asserted)
        {
            if (asserted == Level) return;
            Level = asserted;
            bridge.SourceChanged(pirq, asserted);
        }
    }
}
