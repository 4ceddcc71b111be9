namespace MiniVM.Devices;

/// <summary>
/// One Intel 8259A programmable interrupt controller chip (8259A datasheet). <see cref="DualPic"/> wires two of
/// them in the PC/AT cascade; this class holds one chip's registers and priority logic.
/// Edge inputs latch into IRR on a rising edge; level inputs (ELCR bit set) follow the wire.
/// </summary>
public sealed class Pic8259
{
    private readonly bool _isMaster;
    private readonly byte _elcrMask;
    // The master's IRQ2 input is the slave's INT output: it follows the wire like a level input, so a slave that
    // still has requests after an INTA keeps the cascade asserted instead of losing an edge.
    private readonly byte _levelInputs;
    private readonly Action _outputChanged;

    internal byte LastIrr;      // wire levels seen last, for edge detection
    internal byte Irr;
    internal byte Imr;
    internal byte Isr;
    internal byte PriorityAdd;  // the lowest-priority IRQ + 1 (rotation)
    internal byte IrqBase;
    internal bool ReadIsr;      // OCW3 RR/RIS: what a read of the command port returns
    internal bool Poll;
    internal bool SpecialMask;
    internal byte InitState;    // 0 = operational, 1..3 = waiting for ICW2..ICW4
    internal bool AutoEoi;
    internal bool RotateOnAutoEoi;
    internal bool SpecialFullyNested;
    internal bool Init4;
    internal bool SingleMode;
    internal byte Elcr;

    internal Pic8259(bool isMaster, Action outputChanged)
    {
        _isMaster = isMaster;
        // PIIX3 ELCR: IRQ0, 1, 2 (master) and 8, 13 (slave) are always edge-triggered.
        _elcrMask = isMaster ? (byte)0xF8 : (byte)0xDE;
        _levelInputs = isMaster ? (byte)0x04 : (byte)0;
        _outputChanged = outputChanged;
    }

    /// <summary>True while this chip asserts its INT output.</summary>
    public bool Output { get; private set; }

    /// <summary>Interrupt request, in-service and mask registers and the vector base, for the monitor.</summary>
    public byte RequestRegister => Irr;
    public byte InServiceRegister => Isr;
    public byte MaskRegister => Imr;
    public byte VectorBase => IrqBase;

    internal byte ElcrMask => _elcrMask;

    internal void SetInput(int irq, bool level)
    {
        byte mask = (byte)(1 << irq);
        if (((Elcr | _levelInputs) & mask) != 0)
        {
            if (level) { Irr |= mask; LastIrr |= mask; }
            else { Irr &= (byte)~mask; LastIrr &= (byte)~mask; }
        }
        else if (level)
        {
            if ((LastIrr & mask) == 0) Irr |= mask;
            LastIrr |= mask;
        }
        else LastIrr &= (byte)~mask;
        Update();
    }

    /// <summary>Priority (0 = highest) of the highest-priority bit set in <paramref name="mask"/>, or 8.</summary>
    private int GetPriority(int mask)
    {
        if (mask == 0) return 8;
        int priority = 0;
        while ((mask & (1 << ((priority + PriorityAdd) & 7))) == 0) priority++;
        return priority;
    }

    /// <summary>The IRQ (0..7) this chip would deliver now, or -1.</summary>
    internal int PendingIrq()
    {
        int priority = GetPriority(Irr & ~Imr);
        if (priority == 8) return -1;
        int inService = Isr;
        // Special mask mode (OCW3): masked in-service levels do not block lower priorities.
        if (SpecialMask) inService &= ~Imr;
        // Special fully nested mode (ICW4 SFNM): the slave may interrupt again while IRQ2 is in service.
        if (SpecialFullyNested && _isMaster) inService &= ~(1 << 2);
        int current = GetPriority(inService);
        return priority < current ? (priority + PriorityAdd) & 7 : -1;
    }

    internal void Update()
    {
        bool output = PendingIrq() >= 0;
        if (output == Output) return;
        Output = output;
        _outputChanged();
    }

    /// <summary>INTA cycle for <paramref name="irq"/>: moves it from IRR to ISR (or not, in auto-EOI).</summary>
    internal void Acknowledge(int irq)
    {
        byte mask = (byte)(1 << irq);
        if (AutoEoi)
        {
            if (RotateOnAutoEoi) PriorityAdd = (byte)((irq + 1) & 7);
        }
        else Isr |= mask;
        // A level-triggered request stays in IRR while the wire is high.
        if (((Elcr | _levelInputs) & mask) == 0) Irr &= (byte)~mask;
        Update();
    }

    private void InitReset()
    {
        LastIrr &= _levelInputs;
        Irr &= (byte)(Elcr | _levelInputs);
        Imr = 0;
        Isr = 0;
        PriorityAdd = 0;
        IrqBase = 0;
        ReadIsr = false;
        Poll = false;
        SpecialMask = false;
        InitState = 0;
        AutoEoi = false;
        RotateOnAutoEoi = false;
        SpecialFullyNested = false;
        Init4 = false;
        SingleMode = false;
    }

    /// <summary>Power-on state, ELCR included.</summary>
    internal void Reset()
    {
        Elcr = 0;
        Irr = 0;
        InitReset();
        Update();
    }

    internal void WriteCommand(byte value)
    {
        if ((value & 0x10) != 0)
        {
            // ICW1. Bit 3 (LTIM, level mode for all inputs) is not used on the PC: the ELCR decides per input.
            InitReset();
            InitState = 1;
            Init4 = (value & 0x01) != 0;
            SingleMode = (value & 0x02) != 0;
            Update();
        }
        else if ((value & 0x08) != 0)
        {
            // OCW3
            if ((value & 0x04) != 0) Poll = true;
            if ((value & 0x02) != 0) ReadIsr = (value & 0x01) != 0;
            if ((value & 0x40) != 0) SpecialMask = (value & 0x20) != 0;
            Update();
        }
        else
        {
            // OCW2
            int command = value >> 5;
            switch (command)
            {
                case 0: // rotate in auto-EOI mode: clear
                case 4: // rotate in auto-EOI mode: set
                    RotateOnAutoEoi = command == 4;
                    break;
                case 1: // non-specific EOI
                case 5: // rotate on non-specific EOI
                    {
                        int priority = GetPriority(Isr);
                        if (priority != 8)
                        {
                            int irq = (priority + PriorityAdd) & 7;
                            Isr &= (byte)~(1 << irq);
                            if (command == 5) PriorityAdd = (byte)((irq + 1) & 7);
                        }
                        break;
                    }
                case 3: // specific EOI
                    Isr &= (byte)~(1 << (value & 7));
                    break;
                case 6: // set priority: the named IRQ becomes the lowest
                    PriorityAdd = (byte)((value + 1) & 7);
                    break;
                case 7: // rotate on specific EOI
                    Isr &= (byte)~(1 << (value & 7));
                    PriorityAdd = (byte)(((value & 7) + 1) & 7);
                    break;
                default: // 2: no operation
                    break;
            }
            Update();
        }
    }

    internal void WriteData(byte value)
    {
        switch (InitState)
        {
            case 0: // OCW1
                Imr = value;
                Update();
                break;
            case 1: // ICW2: vector base
                IrqBase = (byte)(value & 0xF8);
                InitState = SingleMode ? (byte)(Init4 ? 3 : 0) : (byte)2;
                break;
            case 2: // ICW3: cascade wiring, fixed on the PC
                InitState = Init4 ? (byte)3 : (byte)0;
                break;
            default: // ICW4
                SpecialFullyNested = (value & 0x10) != 0;
                AutoEoi = (value & 0x02) != 0;
                InitState = 0;
                break;
        }
    }

    /// <summary>Poll command (OCW3 P): acknowledges the highest request and returns 0x80 | irq, or 0.</summary>
    internal byte PollRead()
    {
        int irq = PendingIrq();
        if (irq < 0) return 0;
        Acknowledge(irq);
        return (byte)(0x80 | irq);
    }

    internal void Save(StateWriter w)
    {
        w.Write(LastIrr); w.Write(Irr); w.Write(Imr); w.Write(Isr); w.Write(PriorityAdd); w.Write(IrqBase);
        w.Write(ReadIsr); w.Write(Poll); w.Write(SpecialMask); w.Write(InitState); w.Write(AutoEoi);
        w.Write(RotateOnAutoEoi); w.Write(SpecialFullyNested); w.Write(Init4); w.Write(SingleMode); w.Write(Elcr);
    }

    internal void Load(StateReader r)
    {
        LastIrr = r.ReadByte(); Irr = r.ReadByte(); Imr = r.ReadByte(); Isr = r.ReadByte();
        PriorityAdd = r.ReadByte(); IrqBase = r.ReadByte();
        ReadIsr = r.ReadBool(); Poll = r.ReadBool(); SpecialMask = r.ReadBool(); InitState = r.ReadByte();
        AutoEoi = r.ReadBool(); RotateOnAutoEoi = r.ReadBool(); SpecialFullyNested = r.ReadBool();
        Init4 = r.ReadBool(); SingleMode = r.ReadBool(); Elcr = r.ReadByte();
        if (PriorityAdd > 7) throw new StateFormatException($"section {r.SectionId}: priority rotation {PriorityAdd} out of range 0..7");
        if (InitState > 3) throw new StateFormatException($"section {r.SectionId}: init state {InitState} out of range 0..3");
        if ((Elcr & ~_elcrMask) != 0) throw new StateFormatException($"section {r.SectionId}: ELCR 0x{Elcr:X2} sets fixed edge-triggered inputs");
        Output = PendingIrq() >= 0;
    }
}
