namespace MiniVM.Devices;

/// <summary>
/// The PC/AT pair of 8259A PICs: master at 0x20/0x21 (IRQ0-7), slave at 0xA0/0xA1 (IRQ8-15) cascaded on the
/// master's IRQ2, plus the PIIX3 edge/level control registers (ELCR) at 0x4D0/0x4D1 (PIIX3 datasheet §4.1.17).
/// The CPU side (<see cref="IIntrController"/>) is wired by the board to the local APIC's LINT0.
/// </summary>
/// <remarks>
/// Port registration convention for every device in this assembly: the device owns its port list and exposes
/// <c>void Attach(PortBus ports)</c>; the machine calls it once after construction.
/// </remarks>
public sealed class DualPic : IPortDevice, ISnapshottable, IPortMapped, IResettable, IIntrController
{
    private readonly Pic8259 _master;
    private readonly Pic8259 _slave;
    private readonly IrqInput[] _lines = new IrqInput[16];

    public DualPic()
    {
        _master = new Pic8259(isMaster: true, () => OutputChanged?.Invoke());
        _slave = new Pic8259(isMaster: false, CascadeChanged);
        for (int i = 0; i < 16; i++) _lines[i] = new IrqInput(this, i);
        Reset();
    }

    private void CascadeChanged() => _master.SetInput(2, _slave.Output);

    /// <summary>Raised when <see cref="InterruptPending"/> changes (lets a halted CPU wake up without polling).</summary>
    public event Action? OutputChanged;

    /// <summary>True while the master asserts INTR to the CPU.</summary>
    public bool InterruptPending => _master.Output;

    public Pic8259 Master => _master;
    public Pic8259 Slave => _slave;

    public string SectionId => "pic";
    public int SectionVersion => 1;

    public void Attach(PortBus ports)
    {
        ports.Register(0x20, 2, this);
        ports.Register(0xA0, 2, this);
        ports.Register(0x4D0, 2, this);
    }

    /// <summary>
    /// The input wire for ISA IRQ <paramref name="irq"/> (0..15). IRQ2 is the cascade: as on the PC/AT bus, a
    /// device wired to IRQ2 is delivered on IRQ9.
    /// </summary>
    public IIrqLine GetLine(int irq)
    {
        if ((uint)irq > 15) throw new ArgumentOutOfRangeException(nameof(irq), irq, "ISA IRQ must be 0..15");
        return _lines[irq == 2 ? 9 : irq];
    }

    /// <summary>Drives IRQ <paramref name="irq"/> (0..15, 2 meaning 9) to <paramref name="level"/>.</summary>
    public void SetIrq(int irq, bool level)
    {
        if (irq == 2) irq = 9;
        if (irq < 8) _master.SetInput(irq, level);
        else _slave.SetInput(irq - 8, level);
    }

    /// <summary>
    /// The CPU's INTA cycle: returns the vector and moves the request into service. With nothing pending (the
    /// request went away before INTA) the 8259 answers a spurious IRQ7 (or IRQ15 from the slave) without setting ISR.
    /// </summary>
    public byte Acknowledge()
    {
        int irq = _master.PendingIrq();
        if (irq < 0) return (byte)(_master.IrqBase + 7);
        _master.Acknowledge(irq);
        if (irq != 2) return (byte)(_master.IrqBase + irq);
        int slaveIrq = _slave.PendingIrq();
        if (slaveIrq >= 0) _slave.Acknowledge(slaveIrq);
        else slaveIrq = 7;
        return (byte)(_slave.IrqBase + slaveIrq);
    }

    public void Reset()
    {
        _master.Reset();
        _slave.Reset();
    }

    public uint ReadPort(ushort port, int size)
    {
        switch (port)
        {
            case 0x4D0: return _master.Elcr;
            case 0x4D1: return _slave.Elcr;
        }
        var chip = port < 0xA0 ? _master : _slave;
        if (chip.Poll)
        {
            chip.Poll = false;
            return chip.PollRead();
        }
        if ((port & 1) == 0) return chip.ReadIsr ? chip.Isr : chip.Irr;
        return chip.Imr;
    }

    public void WritePort(ushort port, int size, uint value)
    {
        byte b = (byte)value;
        switch (port)
        {
            case 0x4D0: SetElcr(_master, b); return;
            case 0x4D1: SetElcr(_slave, b); return;
        }
        var chip = port < 0xA0 ? _master : _slave;
        if ((port & 1) == 0) chip.WriteCommand(b);
        else chip.WriteData(b);
    }

    private static void SetElcr(Pic8259 chip, byte value)
    {
        chip.Elcr = (byte)(value & chip.ElcrMask);
        chip.Update();
    }

    public void SaveState(StateWriter writer)
    {
        _master.Save(writer);
        _slave.Save(writer);
    }

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _master.Load(reader);
        _slave.Load(reader);
        OutputChanged?.Invoke();
    }

    private sealed class IrqInput(DualPic pic, int irq) : IIrqLine
    {
        public void SetLevel(bool asserted) => pic.SetIrq(irq, asserted);
    }
}
