namespace MiniVM.Devices;

/// <summary>
/// The I/O APIC (82093AA datasheet) at <see cref="DefaultBase"/>: IOREGSEL at +0x00, IOWIN at +0x10; ID, version
/// 0x11 with 24 redirection entries, edge- and level-triggered inputs with remote IRR cleared by the local APIC's
/// EOI broadcast. Messages go to the <see cref="IApicBus"/> the board wires it to (the one local APIC). The ISA IRQs reach its pins one to one except IRQ0,
/// which is pin 2 (the interrupt source override SeaBIOS writes into the MADT and MP table, as on QEMU's pc).
/// </summary>
public sealed class IoApic : IMmioDevice, IMmioMapped, ISnapshottable, IResettable, IWiredTo<IApicBus>
{
    public const ulong DefaultBase = 0xFEC0_0000;
    public const uint Size = 0x1000;
    public const int Pins = 24;
    public const uint Version = 0x0017_0011; // max redirection entry 23, version 0x11

    private const ulong Masked = 1UL << 16, RemoteIrr = 1UL << 14, LevelTriggered = 1UL << 15, ActiveLow = 1UL << 13;
    private const ulong DeliveryStatus = 1UL << 12;
    // Writable bits: vector, delivery mode, destination mode, polarity, trigger, mask, destination.
    private const ulong WritableBits = 0xFF00_0000_0001_AFFFUL;

    private IApicBus? _lapic;
    private readonly ulong[] _redirection = new ulong[Pins];
    private uint _inputs; // wire levels, as asserted by the devices (before polarity)
    private byte _select;
    private byte _id;

    public IoApic()
    {
        MmioWindows = [new MmioWindow(this, Size, DefaultBase)];
        Reset();
    }

    public IReadOnlyList<MmioWindow> MmioWindows { get; }

    /// <summary>The APIC bus its messages go out on (the board wires it once, when the I/O APIC is added).</summary>
    public void WireTo(IApicBus bus)
    {
        if (_lapic is not null) throw new InvalidOperationException("the I/O APIC is already on an APIC bus");
        _lapic = bus;
        bus.EndOfInterrupt += OnEndOfInterrupt;
    }

    public string SectionId => "ioapic";
    public int SectionVersion => 1;

    public void Reset()
    {
        for (int i = 0; i < Pins; i++) _redirection[i] = Masked;
        _select = 0;
        _id = 0;
        // The wires keep their levels: they belong to the devices, which reset on their own.
    }

    /// <summary>The redirection entry of <paramref name="pin"/>, for the monitor and tests.</summary>
    public ulong GetRedirection(int pin) => _redirection[pin];

    /// <summary>The input wire of <paramref name="pin"/> (0..23).</summary>
    public IIrqLine GetPin(int pin)
    {
        if ((uint)pin >= Pins) throw new ArgumentOutOfRangeException(nameof(pin), pin, "I/O APIC pin must be 0..23");
        return new Pin(this, pin);
    }

    public void SetInput(int pin, bool asserted)
    {
        uint bit = 1u << pin;
        bool was = (_inputs & bit) != 0;
        if (asserted) _inputs |= bit; else _inputs &= ~bit;
        ulong entry = _redirection[pin];
        if ((entry & LevelTriggered) != 0) Service(pin);
        else if (Active(pin, entry) && was != asserted) Deliver(pin);
    }

    /// <summary>The pin is at its active level (after the polarity bit).</summary>
    private bool Active(int pin, ulong entry) => (((_inputs >> pin) & 1) != 0) != ((entry & ActiveLow) != 0);

    /// <summary>A level-triggered pin sends a message while active, unmasked and not awaiting EOI.</summary>
    private void Service(int pin)
    {
        ulong entry = _redirection[pin];
        if ((entry & LevelTriggered) == 0 || (entry & (Masked | RemoteIrr)) != 0 || !Active(pin, entry)) return;
        _redirection[pin] |= RemoteIrr;
        Deliver(pin);
    }

    private void Deliver(int pin)
    {
        ulong entry = _redirection[pin];
        if ((entry & Masked) != 0) return;
        byte destination = (byte)(entry >> 56);
        bool logical = (entry & (1UL << 11)) != 0;
        if (_lapic is null || !_lapic.MatchesDestination(destination, logical))
        {
            _redirection[pin] &= ~RemoteIrr; // nobody accepted it
            return;
        }
        int mode = (int)((entry >> 8) & 7);
        switch (mode)
        {
            case 0: case 1: _lapic.AcceptInterrupt((int)(entry & 0xFF), (entry & LevelTriggered) != 0); break;
            case 4: _lapic.AcceptNmi(); break;
            // SMI, INIT and ExtINT through the I/O APIC are not used by the PC's firmware or guests here.
        }
    }

    private void OnEndOfInterrupt(byte vector)
    {
        for (int pin = 0; pin < Pins; pin++)
        {
            ulong entry = _redirection[pin];
            if ((entry & RemoteIrr) == 0 || (byte)entry != vector) continue;
            _redirection[pin] &= ~RemoteIrr;
            Service(pin); // still asserted: the device's request comes again
        }
    }

    public uint ReadMmio(ulong offset, int size)
    {
        uint value = (offset & 0xF0) switch
        {
            0x00 => _select,
            0x10 => ReadRegister(),
            _ => 0,
        };
        int shift = (int)(offset & 3) * 8;
        return size switch { 1 => (value >> shift) & 0xFF, 2 => (value >> shift) & 0xFFFF, _ => value };
    }

    private uint ReadRegister()
    {
        switch (_select)
        {
            case 0x00: return (uint)_id << 24;
            case 0x01: return Version;
            case 0x02: return (uint)_id << 24; // arbitration ID
        }
        int index = _select - 0x10;
        if (index < 0 || index >= Pins * 2) return 0;
        ulong entry = _redirection[index >> 1] & ~DeliveryStatus;
        return (index & 1) == 0 ? (uint)entry : (uint)(entry >> 32);
    }

    public void WriteMmio(ulong offset, int size, uint value)
    {
        switch (offset & 0xF0)
        {
            case 0x00: _select = (byte)value; break;
            case 0x10: WriteRegister(value); break;
        }
    }

    private void WriteRegister(uint value)
    {
        if (_select == 0x00) { _id = (byte)((value >> 24) & 0x0F); return; }
        int index = _select - 0x10;
        if (index < 0 || index >= Pins * 2) return;
        int pin = index >> 1;
        ulong old = _redirection[pin];
        ulong written = (index & 1) == 0 ? (old & 0xFFFF_FFFF_0000_0000UL) | value : (old & 0xFFFF_FFFFUL) | ((ulong)value << 32);
        // Remote IRR is read-only; an edge-triggered entry has none.
        ulong entry = (written & WritableBits) | (old & RemoteIrr);
        if ((entry & LevelTriggered) == 0) entry &= ~RemoteIrr;
        _redirection[pin] = entry;
        Service(pin); // unmasking a level pin that is still asserted delivers it now
    }

    public void SaveState(StateWriter w)
    {
        w.Write(_select); w.Write(_id); w.Write(_inputs);
        foreach (ulong e in _redirection) w.Write(e);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _select = r.ReadByte(); _id = r.ReadByte(); _inputs = r.ReadUInt32();
        for (int i = 0; i < Pins; i++) _redirection[i] = r.ReadUInt64();
        if (_id > 0x0F) throw new StateFormatException($"section {SectionId}: ID {_id} out of range 0..15");
        if ((_inputs >> Pins) != 0) throw new StateFormatException($"section {SectionId}: input levels 0x{_inputs:X} name pins above 23");
    }

    private sealed class Pin(IoApic ioapic, int pin) : IIrqLine
    {
        public void SetLevel(bool asserted) => ioapic.SetInput(pin, asserted);
    }
}
