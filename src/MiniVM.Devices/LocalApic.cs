using System.Numerics;

namespace MiniVM.Devices;

/// <summary>
/// The processor's local APIC in xAPIC mode (SDM vol. 3 ch. 10), memory-mapped at <see cref="DefaultBase"/>: ID,
/// version, TPR/PPR, EOI, ISR/IRR/TMR, the LVT (timer one-shot and periodic on the virtual clock, performance
/// counter, LINT0, LINT1, error), the spurious-interrupt vector, the error status register and the ICR for IPIs to
/// this (only) processor. LINT0 carries the 8259's INTR: in ExtINT mode the INTA cycle goes to the 8259, as in the
/// MP specification's virtual-wire mode; with the APIC globally disabled (IA32_APIC_BASE bit 11) the 8259 reaches
/// the CPU directly, as on a processor without an APIC.
/// </summary>
public sealed class LocalApic : IMmioDevice, IMmioMapped, ISnapshottable, IResettable, IApicBus, IWiredTo<IIntrController>
{
    public const ulong DefaultBase = 0xFEE0_0000;
    public const uint Size = 0x1000;

    /// <summary>Integrated APIC, version 0x11 (P6 family), five LVT entries (max LVT index 4).</summary>
    public const uint Version = 0x0004_0011;

    /// <summary>IA32_APIC_BASE bits: BSP flag and global enable.</summary>
    public const ulong BaseBsp = 1 << 8, BaseEnable = 1 << 11;
    private const ulong BaseAddressMask = 0xFFFF_F000;

    // LVT indices (registers 0x320 + 0x10 * i, except the thermal slot 0x330 a P6 does not have).
    private const int LvtTimer = 0, LvtPerf = 1, LvtLint0 = 2, LvtLint1 = 3, LvtError = 4, LvtCount = 5;
    private const uint LvtMasked = 1 << 16, LvtLevel = 1 << 15, TimerPeriodic = 1 << 17;
    private const uint SvrEnable = 1 << 8;

    // ESR bits (SDM vol. 3 §10.5.3).
    public const uint ErrorSendIllegalVector = 1 << 5, ErrorReceiveIllegalVector = 1 << 6, ErrorIllegalRegister = 1 << 7;

    /// <summary>Timer input clock: the bus clock before the divider, 1 GHz (one tick per virtual nanosecond), as QEMU.</summary>
    public const long TimerTicksPerNanosecond = 1;

    private readonly VirtualClock _clock;
    private IIntrController? _pic; // behind LINT0, wired by the board
    private readonly VirtualTimer _timer;

    private readonly uint[] _irr = new uint[8], _isr = new uint[8], _tmr = new uint[8];
    private readonly uint[] _lvt = new uint[LvtCount];
    private ulong _base;
    private byte _id;
    private uint _tpr, _ldr, _dfr, _svr, _esr, _esrPending, _icrLow, _icrHigh;
    private uint _initialCount, _divideConfig;
    private long _timerStart; // virtual time the current count period began

    public LocalApic(VirtualClock clock)
    {
        _clock = clock;
        _timer = clock.CreateTimer(OnTimer);
        Window = new MmioWindow(this, Size);
        MmioWindows = [Window];
        Reset();
    }

    /// <summary>The 8259 pair's INTR on LINT0 (the board wires it once, when the APIC is added).</summary>
    public void WireTo(IIntrController pic)
    {
        if (_pic is not null) throw new InvalidOperationException("LINT0 is already wired");
        _pic = pic;
        pic.OutputChanged += () => OutputChanged?.Invoke();
        OutputChanged?.Invoke();
    }

    public string SectionId => "lapic";
    public int SectionVersion => 1;

    /// <summary>Raised when <see cref="InterruptPending"/> may have changed (the CPU's INTR line).</summary>
    public event Action? OutputChanged;

    /// <summary>Raised on an EOI for a level-triggered vector (TMR set): the I/O APIC clears its remote IRR.</summary>
    public event Action<byte>? EndOfInterrupt;

    /// <summary>An NMI delivered through LINT1, the LVT or an NMI IPI.</summary>
    public event Action? NmiRequested;

    /// <summary>The register page, where IA32_APIC_BASE puts it (not decoded while the APIC is globally disabled).</summary>
    public MmioWindow Window { get; }

    public IReadOnlyList<MmioWindow> MmioWindows { get; }

    /// <summary>IA32_APIC_BASE (MSR 0x1B).</summary>
    public ulong ApicBase => _base;

    public bool GloballyEnabled => (_base & BaseEnable) != 0;
    public bool SoftwareEnabled => (_svr & SvrEnable) != 0;
    public byte Id => _id;

    /// <summary>The page the registers answer at while globally enabled.</summary>
    public ulong? MappedAt => GloballyEnabled ? _base & BaseAddressMask : null;

    /// <summary>Power-on / RESET# state (SDM vol. 3 §10.4.7.1), with LINT0 in ExtINT mode as QEMU sets it for the BSP.</summary>
    public void Reset()
    {
        _base = DefaultBase | BaseBsp | BaseEnable;
        _id = 0;
        Array.Clear(_irr); Array.Clear(_isr); Array.Clear(_tmr);
        for (int i = 0; i < LvtCount; i++) _lvt[i] = LvtMasked;
        // Virtual wire through LINT0 from power-on: the 8259 reaches the CPU before any software touches the APIC.
        _lvt[LvtLint0] = 0x700;
        _tpr = _ldr = _esr = _esrPending = _icrLow = _icrHigh = 0;
        _dfr = 0xFFFF_FFFF;
        _svr = 0xFF;
        _initialCount = _divideConfig = 0;
        _timerStart = _clock.Now;
        _timer.Cancel();
        Window.MoveTo(MappedAt);
        OutputChanged?.Invoke();
    }

    /// <summary>WRMSR IA32_APIC_BASE: false for a value with reserved bits set (the CPU raises #GP).</summary>
    public bool TrySetBase(ulong value)
    {
        if ((value & ~(BaseAddressMask | BaseBsp | BaseEnable)) != 0) return false;
        // The BSP flag is read-only.
        _base = (value & ~BaseBsp) | (_base & BaseBsp);
        if (!GloballyEnabled)
        {
            // Globally disabled: as after RESET, but the 8259 now bypasses the APIC (SDM §10.4.3).
            Array.Clear(_irr); Array.Clear(_isr); Array.Clear(_tmr);
            for (int i = 0; i < LvtCount; i++) _lvt[i] = LvtMasked;
            _svr = 0xFF;
            _timer.Cancel();
        }
        Window.MoveTo(MappedAt);
        OutputChanged?.Invoke();
        return true;
    }

    // ---- the CPU side ----

    /// <summary>True while the APIC (or the 8259 through it) asserts an interrupt the CPU would take.</summary>
    public bool InterruptPending => DeliverableVector() >= 0 || ExtIntPending;

    private bool ExtIntPending =>
        _pic is { InterruptPending: true } && (!GloballyEnabled || (_lvt[LvtLint0] & (LvtMasked | 0x700)) == 0x700);

    /// <summary>
    /// The INTA cycle: the highest fixed interrupt above the processor priority moves from IRR to ISR; else the 8259
    /// answers through LINT0; else (the request went away, or the TPR rose) the spurious vector, with no ISR bit.
    /// </summary>
    public byte Acknowledge()
    {
        int v = DeliverableVector();
        if (v >= 0)
        {
            Clear(_irr, v);
            Set(_isr, v);
            OutputChanged?.Invoke();
            return (byte)v;
        }
        if (ExtIntPending) return _pic!.Acknowledge();
        if (!GloballyEnabled && _pic is not null) return _pic.Acknowledge(); // the 8259's own spurious IRQ7
        return (byte)_svr;
    }

    private int DeliverableVector()
    {
        if (!GloballyEnabled || !SoftwareEnabled) return -1;
        int v = Highest(_irr);
        if (v < 0) return -1;
        return (v & 0xF0) > ProcessorPriority ? v : -1;
    }

    /// <summary>PPR (SDM §10.8.3.1): the TPR when its class is not below the highest in-service class.</summary>
    public uint ProcessorPriority
    {
        get
        {
            int isrv = Math.Max(Highest(_isr), 0);
            return (_tpr & 0xF0) >= (uint)(isrv & 0xF0) ? _tpr & 0xFF : (uint)(isrv & 0xF0);
        }
    }

    /// <summary>
    /// A fixed or lowest-priority interrupt arriving from the I/O APIC or an IPI: sets IRR (and TMR for level).
    /// Vectors 0..15 are illegal (ESR bit 6).
    /// </summary>
    public void AcceptInterrupt(int vector, bool level)
    {
        if (!GloballyEnabled) return;
        if (vector < 16)
        {
            SignalError(ErrorReceiveIllegalVector);
            return;
        }
        Set(_irr, vector);
        if (level) Set(_tmr, vector); else Clear(_tmr, vector);
        OutputChanged?.Invoke();
    }

    /// <summary>True when a message with this destination (I/O APIC redirection entry, ICR) addresses this APIC.</summary>
    public bool MatchesDestination(byte destination, bool logical)
    {
        if (!logical) return destination == 0xFF || destination == _id;
        if (destination == 0xFF) return true;
        byte logicalId = (byte)(_ldr >> 24);
        if ((_dfr >> 28) == 0xF) return (logicalId & destination) != 0; // flat model
        // Cluster model: the high nibble is the cluster, the low nibble a bitmap within it.
        return (logicalId >> 4) == (destination >> 4) && (logicalId & destination & 0x0F) != 0;
    }

    /// <summary>An NMI message (I/O APIC entry in NMI mode).</summary>
    public void AcceptNmi()
    {
        if (GloballyEnabled) NmiRequested?.Invoke();
    }

    /// <summary>The LINT1 pin (wired to nothing on the PC but kept for completeness): an NMI when so programmed.</summary>
    public void SetLint1(bool asserted)
    {
        if (asserted) DeliverLocal(LvtLint1);
    }

    /// <summary>Delivers a local interrupt source through its LVT entry (fixed vector or NMI; ExtINT is the 8259 path).</summary>
    private void DeliverLocal(int lvt)
    {
        uint entry = _lvt[lvt];
        if ((entry & LvtMasked) != 0 || !GloballyEnabled) return;
        switch ((entry >> 8) & 7)
        {
            case 0: AcceptInterrupt((int)(entry & 0xFF), lvt is LvtLint0 or LvtLint1 && (entry & LvtLevel) != 0); break;
            case 4: NmiRequested?.Invoke(); break;
        }
    }

    private void SignalError(uint bits)
    {
        bool first = (_esrPending & bits) != bits;
        _esrPending |= bits;
        if (first) DeliverLocal(LvtError);
    }

    // ---- the timer (SDM §10.5.4) ----

    private long NanosecondsPerCount
    {
        get
        {
            int d = (int)((_divideConfig & 3) | ((_divideConfig >> 1) & 4));
            return (d == 7 ? 1 : 2L << d) / TimerTicksPerNanosecond;
        }
    }

    /// <summary>The virtual time the timer counts down to zero next, or null when it is stopped (for the run loop).</summary>
    public long? NextDeadline(long now) => _timer.IsArmed ? _timer.Deadline : null;

    private void StartTimer(long now)
    {
        _timerStart = now;
        if (_initialCount == 0) { _timer.Cancel(); return; }
        _timer.Arm(now + _initialCount * NanosecondsPerCount);
    }

    private void OnTimer(long due)
    {
        DeliverLocal(LvtTimer);
        if ((_lvt[LvtTimer] & TimerPeriodic) != 0) StartTimer(due);
    }

    private uint CurrentCount(long now)
    {
        if (_initialCount == 0) return 0;
        long elapsed = (now - _timerStart) / NanosecondsPerCount;
        if ((_lvt[LvtTimer] & TimerPeriodic) != 0) return (uint)(_initialCount - elapsed % _initialCount);
        return elapsed >= _initialCount ? 0 : (uint)(_initialCount - elapsed);
    }

    // ---- registers ----

    public uint ReadMmio(ulong offset, int size)
    {
        uint value = ReadRegister((uint)offset & 0xFF0);
        int shift = (int)(offset & 3) * 8;
        return size switch { 1 => (value >> shift) & 0xFF, 2 => (value >> shift) & 0xFFFF, _ => value };
    }

    private uint ReadRegister(uint reg)
    {
        switch (reg)
        {
            case 0x020: return (uint)_id << 24;
            case 0x030: return Version;
            case 0x080: return _tpr;
            case 0x090: return 0; // APR: arbitration among several processors, one here
            case 0x0A0: return ProcessorPriority;
            case 0x0B0: return 0; // EOI is write-only
            case 0x0D0: return _ldr;
            case 0x0E0: return _dfr;
            case 0x0F0: return _svr;
            case >= 0x100 and <= 0x170: return _isr[(reg - 0x100) >> 4];
            case >= 0x180 and <= 0x1F0: return _tmr[(reg - 0x180) >> 4];
            case >= 0x200 and <= 0x270: return _irr[(reg - 0x200) >> 4];
            case 0x280: return _esr;
            case 0x300: return _icrLow & ~(1u << 12); // delivery status: always idle, the IPI is sent at once
            case 0x310: return _icrHigh;
            case 0x320: return _lvt[LvtTimer];
            case 0x340: return _lvt[LvtPerf];
            case 0x350: return _lvt[LvtLint0];
            case 0x360: return _lvt[LvtLint1];
            case 0x370: return _lvt[LvtError];
            case 0x380: return _initialCount;
            case 0x390: return CurrentCount(_clock.Now);
            case 0x3E0: return _divideConfig;
            default:
                SignalError(ErrorIllegalRegister);
                return 0;
        }
    }

    public void WriteMmio(ulong offset, int size, uint value)
    {
        // Only aligned 32-bit accesses are defined; narrower writes update the addressed bytes of the register.
        uint reg = (uint)offset & 0xFF0;
        if (size != 4)
        {
            int shift = (int)(offset & 3) * 8;
            uint mask = (size == 1 ? 0xFFu : 0xFFFFu) << shift;
            value = (ReadRegister(reg) & ~mask) | ((value << shift) & mask);
        }
        WriteRegister(reg, value);
    }

    private void WriteRegister(uint reg, uint value)
    {
        switch (reg)
        {
            case 0x020: _id = (byte)(value >> 24); break;
            case 0x080: _tpr = value & 0xFF; OutputChanged?.Invoke(); break;
            case 0x0B0: Eoi(); break;
            case 0x0D0: _ldr = value & 0xFF00_0000; break;
            case 0x0E0: _dfr = value | 0x0FFF_FFFF; break;
            case 0x0F0:
                // Bits 0-7 vector (bits 0-3 are hardwired to 1 on the P6), bit 8 software enable, bit 9 focus check.
                _svr = (value & 0x3F0) | 0x0F;
                if (!SoftwareEnabled) for (int i = 0; i < LvtCount; i++) _lvt[i] |= LvtMasked;
                OutputChanged?.Invoke();
                break;
            case 0x280:
                // A write latches the errors seen since the last write into the readable register (SDM §10.5.3).
                _esr = _esrPending;
                _esrPending = 0;
                break;
            case 0x300: _icrLow = value & 0x000C_CFFF; SendIpi(); break;
            case 0x310: _icrHigh = value & 0xFF00_0000; break;
            case 0x320: WriteLvt(LvtTimer, value & 0x3_10FF); break;
            case 0x340: WriteLvt(LvtPerf, value & 0x1_07FF); break;
            case 0x350: WriteLvt(LvtLint0, value & 0x1_A7FF); break;
            case 0x360: WriteLvt(LvtLint1, value & 0x1_A7FF); break;
            case 0x370: WriteLvt(LvtError, value & 0x1_00FF); break;
            case 0x380:
                _initialCount = value;
                StartTimer(_clock.Now);
                break;
            case 0x3E0:
                {
                    uint remaining = CurrentCount(_clock.Now);
                    _divideConfig = value & 0xB;
                    RestartFrom(remaining);
                    break;
                }
            case 0x030 or 0x090 or 0x0A0 or 0x0C0 or 0x390 or (>= 0x100 and <= 0x270):
                break; // read-only
            default:
                SignalError(ErrorIllegalRegister);
                break;
        }
    }

    /// <summary>A new divider applies to the count still left: the next zero comes that many (new) periods later.</summary>
    private void RestartFrom(uint remaining)
    {
        if (_initialCount == 0 || !_timer.IsArmed) return;
        long now = _clock.Now;
        _timerStart = now - (_initialCount - remaining) * NanosecondsPerCount;
        _timer.Arm(now + remaining * NanosecondsPerCount);
    }

    private void WriteLvt(int index, uint value)
    {
        // While software-disabled the mask bits cannot be cleared (SDM §10.4.7.2).
        if (!SoftwareEnabled) value |= LvtMasked;
        bool wasPeriodic = (_lvt[index] & TimerPeriodic) != 0;
        _lvt[index] = value;
        if (index == LvtTimer && wasPeriodic && (value & TimerPeriodic) == 0 && CurrentCount(_clock.Now) == 0) _timer.Cancel();
        OutputChanged?.Invoke();
    }

    private void Eoi()
    {
        int v = Highest(_isr);
        if (v < 0) return;
        Clear(_isr, v);
        bool level = IsSet(_tmr, v);
        OutputChanged?.Invoke();
        if (level) EndOfInterrupt?.Invoke((byte)v);
    }

    private void SendIpi()
    {
        int vector = (int)(_icrLow & 0xFF);
        int mode = (int)((_icrLow >> 8) & 7);
        int shorthand = (int)((_icrLow >> 18) & 3);
        bool toSelf = shorthand switch
        {
            1 or 2 => true,                                                     // self, all including self
            3 => false,                                                         // all excluding self: no other processor
            _ => MatchesDestination((byte)(_icrHigh >> 24), (_icrLow & (1 << 11)) != 0),
        };
        if (mode is 0 or 1 && vector < 16)
        {
            SignalError(ErrorSendIllegalVector);
            if (toSelf) SignalError(ErrorReceiveIllegalVector);
            return;
        }
        if (!toSelf) return;
        switch (mode)
        {
            case 0: case 1: AcceptInterrupt(vector, level: false); break;   // fixed, lowest priority
            case 4: NmiRequested?.Invoke(); break;
            // INIT, SIPI, SMI to the only processor: INIT and SIPI are what an AP would take; the BSP ignores them
            // (SeaBIOS broadcasts them "all excluding self" anyway).
        }
    }

    // ---- 256-bit vector sets ----

    private static int Highest(uint[] bits)
    {
        for (int i = 7; i >= 0; i--)
            if (bits[i] != 0) return i * 32 + 31 - BitOperations.LeadingZeroCount(bits[i]);
        return -1;
    }

    private static void Set(uint[] bits, int v) => bits[v >> 5] |= 1u << (v & 31);
    private static void Clear(uint[] bits, int v) => bits[v >> 5] &= ~(1u << (v & 31));
    private static bool IsSet(uint[] bits, int v) => (bits[v >> 5] & (1u << (v & 31))) != 0;

    // ---- savevm ----

    public void SaveState(StateWriter w)
    {
        w.Write(_base); w.Write(_id);
        foreach (var a in new[] { _irr, _isr, _tmr }) foreach (uint x in a) w.Write(x);
        foreach (uint x in _lvt) w.Write(x);
        w.Write(_tpr); w.Write(_ldr); w.Write(_dfr); w.Write(_svr); w.Write(_esr); w.Write(_esrPending);
        w.Write(_icrLow); w.Write(_icrHigh); w.Write(_initialCount); w.Write(_divideConfig); w.Write(_timerStart);
        w.Write(_timer.IsArmed ? _timer.Deadline : -1L);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _base = r.ReadUInt64(); _id = r.ReadByte();
        foreach (var a in new[] { _irr, _isr, _tmr }) for (int i = 0; i < 8; i++) a[i] = r.ReadUInt32();
        for (int i = 0; i < LvtCount; i++) _lvt[i] = r.ReadUInt32();
        _tpr = r.ReadUInt32(); _ldr = r.ReadUInt32(); _dfr = r.ReadUInt32(); _svr = r.ReadUInt32();
        _esr = r.ReadUInt32(); _esrPending = r.ReadUInt32(); _icrLow = r.ReadUInt32(); _icrHigh = r.ReadUInt32();
        _initialCount = r.ReadUInt32(); _divideConfig = r.ReadUInt32(); _timerStart = r.ReadInt64();
        long deadline = r.ReadInt64();
        if ((_base & ~(BaseAddressMask | BaseBsp | BaseEnable)) != 0) throw new StateFormatException($"section {SectionId}: APIC base 0x{_base:X} has reserved bits set");
        if ((_divideConfig & ~0xBu) != 0) throw new StateFormatException($"section {SectionId}: divide configuration 0x{_divideConfig:X} has reserved bits set");
        if (deadline >= 0) _timer.Arm(deadline); else _timer.Cancel();
        Window.MoveTo(MappedAt);
        OutputChanged?.Invoke();
    }
}
