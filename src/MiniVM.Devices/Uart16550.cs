namespace MiniVM.Devices;

/// <summary>
/// National Semiconductor 16550A UART (PC16550D datasheet), COM1 at 0x3F8/IRQ4 by default. Transmitted bytes go
/// to the output sink at once (the transmitter is always empty again, so THRE interrupts follow every write);
/// host input waits in a queue and moves into the 16-byte receive FIFO as the guest makes room. Interrupt
/// identification follows the datasheet's priorities: line status, received data (trigger level) or character
/// timeout, transmitter empty, modem status. Loopback (MCR bit 4) feeds THR back into the receiver and MCR
/// outputs into MSR.
/// </summary>
public sealed class Uart16550 : IPortDevice, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    private const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrThrEmpty = 0x20, LsrTxEmpty = 0x40,
        LsrErrors = 0x1E;
    private const byte IerRda = 0x01, IerThre = 0x02, IerRls = 0x04, IerMsi = 0x08;
    private const byte McrLoop = 0x10;
    private const int FifoSize = 16;
    private const int HostInputLimit = 1 << 20;

    private readonly VirtualClock _clock;
    private readonly Action<byte> _output;
    private readonly ushort _base;
    private readonly VirtualTimer _timeoutTimer;
    private readonly Queue<byte> _rx = new();
    private readonly Queue<byte> _hostInput = new();

    private byte _ier, _fcr, _lcr, _mcr, _lsr, _msr, _scr;
    private ushort _divisor;
    private bool _thrInterrupt;      // THRE interrupt pending (cleared by reading IIR or writing THR)
    private bool _timeoutInterrupt;  // character timeout pending (cleared by reading RBR)

    public Uart16550(VirtualClock clock, Action<byte> output, ushort basePort = 0x3F8, int isaIrq = 4, string sectionId = "com1")
    {
        _clock = clock;
        Irq = IrqOutput.Isa(isaIrq);
        _output = output;
        _base = basePort;
        SectionId = sectionId;
        _timeoutTimer = clock.CreateTimer(OnTimeout);
        Reset();
    }

    /// <summary>INTRPT, wired to ISA IRQ 4 for COM1 (3 for COM2).</summary>
    public IrqOutput Irq { get; }

    public IReadOnlyList<IrqOutput> IrqOutputs => [Irq];

    public string SectionId { get; }
    public int SectionVersion => 1;

    /// <summary>Host bytes not yet in the receive FIFO.</summary>
    public int PendingInput => _hostInput.Count;

    public void Attach(PortBus ports) => ports.Register(_base, 8, this);

    public void Reset()
    {
        _ier = 0; _fcr = 0; _lcr = 0x03; _mcr = 0; _scr = 0;
        _lsr = LsrThrEmpty | LsrTxEmpty;
        _msr = 0xB0; // DCD, DSR, CTS: a connected terminal
        _divisor = 12; // 9600 baud
        _thrInterrupt = false;
        _timeoutInterrupt = false;
        _rx.Clear();
        _timeoutTimer.Cancel();
        UpdateIrq();
    }

    /// <summary>Queues bytes from the host for the guest to read; returns how many were accepted.</summary>
    public int Receive(ReadOnlySpan<byte> data)
    {
        int accepted = 0;
        foreach (byte b in data)
        {
            if (_hostInput.Count >= HostInputLimit) break;
            _hostInput.Enqueue(b);
            accepted++;
        }
        FillReceiver();
        UpdateIrq();
        return accepted;
    }

    private bool FifoEnabled => (_fcr & 0x01) != 0;
    private int RxCapacity => FifoEnabled ? FifoSize : 1;
    private int TriggerLevel => (_fcr >> 6) switch { 0 => 1, 1 => 4, 2 => 8, _ => 14 };
    private bool Dlab => (_lcr & 0x80) != 0;

    /// <summary>Character time at the programmed baud rate (start + 8 data + stop bits).</summary>
    private long CharacterTimeNs => 10L * 1_000_000_000 * Math.Max((int)_divisor, 1) / 115_200;

    private void FillReceiver()
    {
        if ((_mcr & McrLoop) != 0) return; // in loopback the receiver is disconnected from the line
        bool added = false;
        while (_rx.Count < RxCapacity && _hostInput.TryDequeue(out byte b)) { _rx.Enqueue(b); added = true; }
        if (_rx.Count > 0) _lsr |= LsrDataReady;
        if (added) ArmTimeout();
    }

    private void ReceiveByte(byte b)
    {
        if (_rx.Count >= RxCapacity) { _lsr |= LsrOverrun; return; }
        _rx.Enqueue(b);
        _lsr |= LsrDataReady;
        ArmTimeout();
    }

    private void ArmTimeout()
    {
        // Character timeout (16550D §8.6): data below the trigger level, untouched for four character times.
        if (FifoEnabled && _rx.Count > 0) _timeoutTimer.Arm(_clock.Now + 4 * CharacterTimeNs);
        else _timeoutTimer.Cancel();
    }

    private void OnTimeout(long due)
    {
        if (_rx.Count == 0) return;
        _timeoutInterrupt = true;
        UpdateIrq();
    }

    private byte InterruptId()
    {
        if ((_ier & IerRls) != 0 && (_lsr & LsrErrors) != 0) return 0x06;
        if ((_ier & IerRda) != 0 && _rx.Count > 0)
        {
            if (!FifoEnabled || _rx.Count >= TriggerLevel) return 0x04;
            if (_timeoutInterrupt) return 0x0C;
        }
        if ((_ier & IerThre) != 0 && _thrInterrupt) return 0x02;
        if ((_ier & IerMsi) != 0 && (_msr & 0x0F) != 0) return 0x00;
        return 0x01;
    }

    private void UpdateIrq() => Irq.SetLevel(InterruptId() != 0x01);

    public uint ReadPort(ushort port, int size)
    {
        switch (port - _base)
        {
            case 0:
                if (Dlab) return (uint)(_divisor & 0xFF);
                {
                    byte value = 0;
                    if (_rx.TryDequeue(out byte b)) value = b;
                    _timeoutInterrupt = false;
                    FillReceiver();
                    if (_rx.Count == 0) _lsr &= unchecked((byte)~LsrDataReady);
                    ArmTimeout();
                    UpdateIrq();
                    return value;
                }
            case 1:
                return Dlab ? (uint)(_divisor >> 8) : _ier;
            case 2:
                {
                    byte id = InterruptId();
                    if (id == 0x02) { _thrInterrupt = false; UpdateIrq(); }
                    return (uint)(id | (FifoEnabled ? 0xC0 : 0));
                }
            case 3:
                return _lcr;
            case 4:
                return _mcr;
            case 5:
                {
                    byte lsr = _lsr;
                    if (FifoEnabled && (lsr & LsrErrors) != 0) lsr |= 0x80;
                    _lsr &= unchecked((byte)~LsrErrors);
                    UpdateIrq();
                    return lsr;
                }
            case 6:
                {
                    byte msr = _msr;
                    _msr &= 0xF0;
                    UpdateIrq();
                    return msr;
                }
            default:
                return _scr;
        }
    }

    public void WritePort(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port - _base)
        {
            case 0:
                if (Dlab) { _divisor = (ushort)((_divisor & 0xFF00) | v); return; }
                if ((_mcr & McrLoop) != 0) ReceiveByte(v);
                else _output(v);
                // The byte left at once: THR and the shift register are empty again.
                _lsr |= LsrThrEmpty | LsrTxEmpty;
                _thrInterrupt = true;
                UpdateIrq();
                return;
            case 1:
                if (Dlab) { _divisor = (ushort)((_divisor & 0x00FF) | (v << 8)); return; }
                {
                    byte old = _ier;
                    _ier = (byte)(v & 0x0F);
                    // Enabling THRE interrupts with an empty THR raises one immediately (16550D §8.4).
                    if ((_ier & IerThre) != 0 && (old & IerThre) == 0 && (_lsr & LsrThrEmpty) != 0) _thrInterrupt = true;
                    if ((_ier & IerThre) == 0) _thrInterrupt = false;
                    UpdateIrq();
                }
                return;
            case 2:
                {
                    bool wasEnabled = FifoEnabled;
                    if ((v & 0x01) != (_fcr & 0x01) || (v & 0x02) != 0) { _rx.Clear(); _timeoutInterrupt = false; }
                    _fcr = (byte)(v & 0xC9);
                    if (!FifoEnabled) _fcr = 0;
                    if (wasEnabled != FifoEnabled) _rx.Clear();
                    _lsr = (byte)(_rx.Count > 0 ? _lsr | LsrDataReady : _lsr & ~LsrDataReady);
                    FillReceiver();
                    ArmTimeout();
                    UpdateIrq();
                }
                return;
            case 3:
                _lcr = v;
                return;
            case 4:
                SetModemControl((byte)(v & 0x1F));
                return;
            case 5:
            case 6:
                return; // LSR and MSR are read-only (factory test writes are ignored)
            default:
                _scr = v;
                return;
        }
    }

    private void SetModemControl(byte mcr)
    {
        bool wasLoop = (_mcr & McrLoop) != 0;
        _mcr = mcr;
        byte lines;
        if ((mcr & McrLoop) != 0)
        {
            // Loopback: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
            lines = (byte)(((mcr & 0x02) << 3) | ((mcr & 0x01) << 5) | ((mcr & 0x04) << 4) | ((mcr & 0x08) << 4));
        }
        else lines = 0xB0;
        byte old = _msr;
        byte delta = (byte)(_msr & 0x0F);
        byte changed = (byte)((old ^ lines) & 0xF0);
        if ((changed & 0x10) != 0) delta |= 0x01;
        if ((changed & 0x20) != 0) delta |= 0x02;
        if ((old & 0x40) != 0 && (lines & 0x40) == 0) delta |= 0x04; // trailing edge of RI
        if ((changed & 0x80) != 0) delta |= 0x08;
        _msr = (byte)(lines | delta);
        if (wasLoop && (mcr & McrLoop) == 0) FillReceiver();
        UpdateIrq();
    }

    public void SaveState(StateWriter w)
    {
        w.Write(_ier); w.Write(_fcr); w.Write(_lcr); w.Write(_mcr); w.Write(_lsr); w.Write(_msr); w.Write(_scr);
        w.Write(_divisor); w.Write(_thrInterrupt); w.Write(_timeoutInterrupt);
        w.Write(_rx.Count); w.WriteBytes(_rx.ToArray());
        w.Write(_hostInput.Count); w.WriteBytes(_hostInput.ToArray());
        w.Write(_timeoutTimer.IsArmed); w.Write(_timeoutTimer.IsArmed ? _timeoutTimer.Deadline : 0L); // a stale deadline is not restored
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        byte ier = r.ReadByte(), fcr = r.ReadByte(), lcr = r.ReadByte(), mcr = r.ReadByte(), lsr = r.ReadByte(),
            msr = r.ReadByte(), scr = r.ReadByte();
        ushort divisor = r.ReadUInt16();
        bool thr = r.ReadBool(), timeout = r.ReadBool();
        var rx = new byte[r.ReadInt32InRange(0, FifoSize, "receive FIFO length")];
        r.ReadBytes(rx);
        var host = new byte[r.ReadInt32InRange(0, HostInputLimit, "host input length")];
        r.ReadBytes(host);
        bool armed = r.ReadBool();
        long deadline = r.ReadInt64();
        _ier = (byte)(ier & 0x0F); _fcr = fcr; _lcr = lcr; _mcr = (byte)(mcr & 0x1F); _lsr = lsr; _msr = msr; _scr = scr;
        _divisor = divisor; _thrInterrupt = thr; _timeoutInterrupt = timeout;
        _rx.Clear();
        foreach (byte b in rx) _rx.Enqueue(b);
        _hostInput.Clear();
        foreach (byte b in host) _hostInput.Enqueue(b);
        if (armed) _timeoutTimer.Arm(deadline); else _timeoutTimer.Cancel();
        UpdateIrq();
    }
}
