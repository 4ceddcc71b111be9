namespace MiniVM.Devices;

/// <summary>Drive type codes of CMOS byte 0x10 (high nibble drive A, low nibble drive B).</summary>
public enum CmosFloppyType : byte
{
    None = 0,
    Kb360 = 1,
    Mb1_2 = 2,
    Kb720 = 3,
    Mb1_44 = 4,
    Mb2_88 = 5,
}

/// <summary>
/// Motorola MC146818 real-time clock with its 128 bytes of CMOS RAM at ports 0x70 (index, bit 7 = NMI mask)
/// and 0x71 (data). The clock is a base date plus elapsed <see cref="VirtualClock"/> time, so a deterministic run
/// sees the same dates every time. Registers A-D follow the MC146818 datasheet: UIP for the 244 µs before each
/// update, periodic interrupt from the rate in A, update-ended and alarm interrupts, BCD/binary and 12/24 h
/// from B, flags in C (cleared by reading, which also drops IRQ8), VRT in D.
/// The machine fills the BIOS bytes (memory size, floppy types, boot order) as QEMU's pc_cmos_init does.
/// </summary>
public sealed class CmosRtc : IPortDevice, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    private const int RegA = 0x0A, RegB = 0x0B, RegC = 0x0C, RegD = 0x0D;
    private const byte AUip = 0x80;
    private const byte BSet = 0x80, BPie = 0x40, BAie = 0x20, BUie = 0x10, BBinary = 0x04, B24Hour = 0x02;
    private const byte CIrqf = 0x80, CPf = 0x40, CAf = 0x20, CUf = 0x10;
    private const int Century = 0x32;
    private const long NanosPerSecond = 1_000_000_000;
    private const long UipWindowNs = 244_000;

    private readonly VirtualClock _clock;
    private readonly VirtualTimer _periodicTimer;
    private readonly VirtualTimer _secondTimer;
    private readonly byte[] _ram = new byte[128];
    private byte _index;

    // The running clock: date _baseTicks (DateTime ticks) was current at virtual time _baseNs.
    private long _baseTicks;
    private long _baseNs;
    private bool _halted;               // SET bit or divider in reset: the time registers hold the time
    private long _periodicAnchor;       // virtual time the periodic rate was (re)programmed
    private long _periodicIndex;        // periods elapsed since the anchor

    /// <param name="startTime">Date the RTC shows at virtual time 0; a fixed value makes runs reproducible.</param>
    public CmosRtc(VirtualClock clock, DateTime startTime)
    {
        _clock = clock;
        _periodicTimer = clock.CreateTimer(OnPeriodic);
        _secondTimer = clock.CreateTimer(OnSecond);
        _baseTicks = startTime.Ticks;
        _baseNs = clock.Now;
        _ram[RegA] = 0x26;           // 32.768 kHz time base, 1024 Hz periodic rate
        _ram[RegB] = B24Hour;        // 24-hour, BCD, all interrupts off
        _ram[RegD] = 0x80;           // valid RAM and time
        _ram[0x14] = 0x06;           // equipment: FPU and PS/2 mouse present, as QEMU
        UpdateChecksum();
    }

    /// <summary>IRQ# of the MC146818, wired to ISA IRQ 8.</summary>
    public IrqOutput Irq8 { get; } = IrqOutput.Isa(8);

    public IReadOnlyList<IrqOutput> IrqOutputs => [Irq8];

    public string SectionId => "cmos";
    public int SectionVersion => 1;

    /// <summary>Port 0x70 bit 7: NMIs are blocked while set.</summary>
    public bool NmiMasked { get; private set; }

    /// <summary>The date and time the RTC shows now.</summary>
    public DateTime CurrentTime => new(_halted ? ParseTimeRegisters() : RunningTicks());

    public void Attach(PortBus ports) => ports.Register(0x70, 2, this);

    /// <summary>
    /// The chip's RESET pin, driven by a machine reset (MC146818 datasheet, "RESET"): interrupt enables and flags
    /// are cleared and IRQ8 drops; time, date and CMOS RAM survive, as they are battery-backed.
    /// </summary>
    public void Reset()
    {
        _ram[RegB] &= unchecked((byte)~(BPie | BAie | BUie | 0x08));
        _ram[RegC] = 0;
        _periodicTimer.Cancel();
        _secondTimer.Cancel();
        Irq8.SetLevel(false);
    }

    /// <summary>
    /// Reads a CMOS byte as the guest would see it (time registers formatted now), without the guest's side
    /// effects: register C keeps its flags, so inspecting it does not acknowledge an interrupt.
    /// </summary>
    public byte GetByte(int index)
    {
        CheckIndex(index);
        return index == RegC ? _ram[RegC] : ReadRegister(index);
    }

    /// <summary>
    /// Sets a CMOS RAM byte for the BIOS (0x0E-0x7F). Bytes 0x10-0x2D are covered by the checksum at 0x2E/0x2F
    /// (big-endian sum), which is kept up to date.
    /// </summary>
    public void SetByte(int index, byte value)
    {
        CheckIndex(index);
        if (index < 0x0E) throw new ArgumentOutOfRangeException(nameof(index), index, "CMOS bytes 0x00-0x0D are RTC registers, not BIOS storage");
        _ram[index] = value;
        if (index is >= 0x10 and <= 0x2D) UpdateChecksum();
    }

    /// <summary>Memory size bytes as QEMU's pc_cmos_init writes them: base, extended, above 16 MiB, above 4 GiB.</summary>
    public void SetMemorySize(long belowFourGiB, long aboveFourGiB)
    {
        if (belowFourGiB < 0 || belowFourGiB > 4L << 30) throw new ArgumentOutOfRangeException(nameof(belowFourGiB));
        if (aboveFourGiB < 0) throw new ArgumentOutOfRangeException(nameof(aboveFourGiB));
        long baseKb = Math.Min(belowFourGiB / 1024, 640);
        SetWord(0x15, (int)baseKb);
        long ext = belowFourGiB > (1 << 20) ? Math.Min((belowFourGiB - (1 << 20)) / 1024, 65535) : 0;
        SetWord(0x17, (int)ext);
        SetWord(0x30, (int)ext);
        long above16 = belowFourGiB > (16 << 20) ? Math.Min((belowFourGiB - (16 << 20)) / 65536, 65535) : 0;
        SetWord(0x34, (int)above16);
        long high = aboveFourGiB / 65536;
        SetByte(0x5B, (byte)high);
        SetByte(0x5C, (byte)(high >> 8));
        SetByte(0x5D, (byte)(high >> 16));
    }

    /// <summary>
    /// Boot order as SeaBIOS reads it on QEMU (boot.c, CMOS 0x3D and 0x38 high nibble): up to three of
    /// 'a' floppy, 'c' hard disk, 'd' CD-ROM, 'n' network. Byte 0x38 bit 0 skips the floppy boot-sector check.
    /// </summary>
    public void SetBootOrder(string order, bool checkFloppySignature = true)
    {
        if (order.Length > 3) throw new ArgumentException($"boot order '{order}' names more than 3 devices", nameof(order));
        Span<int> codes = stackalloc int[3];
        for (int i = 0; i < order.Length; i++)
        {
            codes[i] = char.ToLowerInvariant(order[i]) switch
            {
                'a' => 1, 'c' => 2, 'd' => 3, 'n' => 4,
                _ => throw new ArgumentException($"boot order '{order}': '{order[i]}' is not one of a, c, d, n", nameof(order)),
            };
        }
        SetByte(0x3D, (byte)((codes[1] << 4) | codes[0]));
        SetByte(0x38, (byte)((codes[2] << 4) | (checkFloppySignature ? 0 : 1)));
    }

    /// <summary>Floppy drive types (byte 0x10) and the drive count in the equipment byte 0x14.</summary>
    public void SetFloppyTypes(CmosFloppyType driveA, CmosFloppyType driveB)
    {
        SetByte(0x10, (byte)(((int)driveA << 4) | (int)driveB));
        int count = (driveA != CmosFloppyType.None ? 1 : 0) + (driveB != CmosFloppyType.None ? 1 : 0);
        byte eq = (byte)(_ram[0x14] & ~0xC1);
        if (count > 0) eq |= (byte)(0x01 | ((count - 1) << 6));
        SetByte(0x14, eq);
    }

    private void SetWord(int index, int value)
    {
        SetByte(index, (byte)value);
        SetByte(index + 1, (byte)(value >> 8));
    }

    private void UpdateChecksum()
    {
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += _ram[i];
        _ram[0x2E] = (byte)(sum >> 8);
        _ram[0x2F] = (byte)sum;
    }

    private static void CheckIndex(int index)
    {
        if ((uint)index > 127) throw new ArgumentOutOfRangeException(nameof(index), index, "CMOS index must be 0..127");
    }

    public uint ReadPort(ushort port, int size) => port == 0x70 ? 0xFFu : ReadRegister(_index);

    public void WritePort(ushort port, int size, uint value)
    {
        if (port == 0x70)
        {
            _index = (byte)(value & 0x7F);
            NmiMasked = (value & 0x80) != 0;
            return;
        }
        WriteRegister(_index, (byte)value);
    }

    private long RunningTicks() => _baseTicks + (_clock.Now - _baseNs) / 100;

    private byte ReadRegister(int index)
    {
        switch (index)
        {
            case <= 9:
                if (!_halted) FormatTimeRegisters(RunningTicks());
                return _ram[index];
            case RegA:
                {
                    byte a = (byte)(_ram[RegA] & 0x7F);
                    if (!_halted && NanosIntoSecond(RunningTicks()) >= NanosPerSecond - UipWindowNs) a |= AUip;
                    return a;
                }
            case RegC:
                {
                    byte c = _ram[RegC];
                    _ram[RegC] = 0;
                    Irq8.SetLevel(false);
                    return c;
                }
            case Century:
                if (!_halted) FormatTimeRegisters(RunningTicks());
                return _ram[Century];
            default:
                return _ram[index];
        }
    }

    private void WriteRegister(int index, byte value)
    {
        switch (index)
        {
            case <= 9:
            case Century:
                if (_halted) { _ram[index] = value; return; }
                {
                    // Setting one field of a running clock: keep the sub-second phase.
                    long ticks = RunningTicks();
                    long fraction = ticks % TimeSpan.TicksPerSecond;
                    FormatTimeRegisters(ticks);
                    _ram[index] = value;
                    if (index is 1 or 3 or 5) return; // alarm registers do not move the clock
                    _baseTicks = ParseTimeRegisters() + fraction;
                    _baseNs = _clock.Now;
                    RescheduleSecond();
                }
                return;
            case RegA:
                _ram[RegA] = (byte)(value & 0x7F);
                UpdateHalted();
                RestartPeriodic();
                return;
            case RegB:
                {
                    if ((value & BSet) != 0) value &= unchecked((byte)~BUie); // MC146818: SET clears UIE
                    byte old = _ram[RegB];
                    if (!_halted && (old & (BBinary | B24Hour)) != (value & (BBinary | B24Hour)))
                        FormatTimeRegisters(RunningTicks());
                    _ram[RegB] = value;
                    UpdateHalted();
                    if (((old ^ value) & BPie) != 0) RestartPeriodic();
                    RescheduleSecond();
                    UpdateIrq();
                    return;
                }
            case RegC:
            case RegD:
                return; // read-only
            default:
                _ram[index] = value;
                return;
        }
    }

    private void UpdateHalted()
    {
        bool halted = (_ram[RegB] & BSet) != 0 || (_ram[RegA] & 0x60) == 0x60;
        if (halted == _halted) return;
        if (halted)
        {
            FormatTimeRegisters(RunningTicks());
            _halted = true;
        }
        else
        {
            _baseTicks = ParseTimeRegisters();
            _baseNs = _clock.Now;
            _halted = false;
        }
        RescheduleSecond();
    }

    private static long NanosIntoSecond(long ticks) => ticks % TimeSpan.TicksPerSecond * 100;

    private bool Binary => (_ram[RegB] & BBinary) != 0;

    private byte ToRegister(int v) => Binary ? (byte)v : (byte)(((v / 10) << 4) | (v % 10));

    private int FromRegister(byte v) => Binary ? v : ((v >> 4) & 0x0F) * 10 + (v & 0x0F);

    private void FormatTimeRegisters(long ticks)
    {
        var t = new DateTime(ticks);
        _ram[0] = ToRegister(t.Second);
        _ram[2] = ToRegister(t.Minute);
        int hour = t.Hour;
        if ((_ram[RegB] & B24Hour) != 0) _ram[4] = ToRegister(hour);
        else
        {
            int h12 = hour % 12 == 0 ? 12 : hour % 12;
            _ram[4] = (byte)(ToRegister(h12) | (hour >= 12 ? 0x80 : 0));
        }
        _ram[6] = (byte)(ToRegister((int)t.DayOfWeek + 1));
        _ram[7] = ToRegister(t.Day);
        _ram[8] = ToRegister(t.Month);
        _ram[9] = ToRegister(t.Year % 100);
        _ram[Century] = ToRegister(t.Year / 100);
    }

    /// <summary>Date in the time registers; out-of-range fields (a guest writing garbage) are clamped, never thrown.</summary>
    private long ParseTimeRegisters()
    {
        int sec = Math.Clamp(FromRegister(_ram[0]), 0, 59);
        int min = Math.Clamp(FromRegister(_ram[2]), 0, 59);
        int hour;
        if ((_ram[RegB] & B24Hour) != 0) hour = FromRegister(_ram[4]);
        else
        {
            hour = FromRegister((byte)(_ram[4] & 0x7F)) % 12;
            if ((_ram[4] & 0x80) != 0) hour += 12;
        }
        hour = Math.Clamp(hour, 0, 23);
        int year = Math.Clamp(FromRegister(_ram[Century]) * 100 + FromRegister(_ram[9]), 1, 9999);
        int month = Math.Clamp(FromRegister(_ram[8]), 1, 12);
        int day = Math.Clamp(FromRegister(_ram[7]), 1, DateTime.DaysInMonth(year, month));
        return new DateTime(year, month, day, hour, min, sec).Ticks;
    }

    /// <summary>Periodic interrupt period from register A's rate select, or 0 when off (MC146818 table 5).</summary>
    private long PeriodCycles()
    {
        int rate = _ram[RegA] & 0x0F;
        if (rate == 0) return 0;
        if (rate <= 2) rate += 7;
        return 1L << (rate - 1); // in 32.768 kHz cycles
    }

    private long PeriodicDeadline(long index) =>
        _periodicAnchor + (index * PeriodCycles() * NanosPerSecond + 32767) / 32768;

    private void RestartPeriodic()
    {
        _periodicAnchor = _clock.Now;
        _periodicIndex = 0;
        ArmPeriodic();
    }

    private void ArmPeriodic()
    {
        if (PeriodCycles() == 0 || (_ram[RegB] & BPie) == 0) { _periodicTimer.Cancel(); return; }
        _periodicTimer.Arm(PeriodicDeadline(_periodicIndex + 1));
    }

    private void OnPeriodic(long due)
    {
        _periodicIndex++;
        _ram[RegC] |= CPf;
        UpdateIrq();
        ArmPeriodic();
    }

    private void RescheduleSecond()
    {
        if (_halted || (_ram[RegB] & (BUie | BAie)) == 0) { _secondTimer.Cancel(); return; }
        long intoSecond = NanosIntoSecond(RunningTicks());
        _secondTimer.Arm(_clock.Now + (NanosPerSecond - intoSecond));
    }

    /// <summary>End of an update cycle: UF, and AF when the alarm bytes match (0xC0-0xFF = don't care).</summary>
    private void OnSecond(long due)
    {
        FormatTimeRegisters(RunningTicks());
        _ram[RegC] |= CUf;
        if (AlarmMatches(1, 0) && AlarmMatches(3, 2) && AlarmMatches(5, 4)) _ram[RegC] |= CAf;
        UpdateIrq();
        RescheduleSecond();
    }

    private bool AlarmMatches(int alarm, int time) => _ram[alarm] >= 0xC0 || _ram[alarm] == _ram[time];

    private void UpdateIrq()
    {
        byte c = _ram[RegC];
        bool irq = ((c & _ram[RegB]) & (CPf | CAf | CUf)) != 0; // flag bits line up with their enables in B
        if (irq)
        {
            _ram[RegC] = (byte)(c | CIrqf);
            Irq8.SetLevel(true);
        }
    }

    public void SaveState(StateWriter w)
    {
        w.WriteBytes(_ram);
        w.Write(_index);
        w.Write(NmiMasked);
        w.Write(_baseTicks);
        w.Write(_baseNs);
        w.Write(_halted);
        w.Write(_periodicAnchor);
        w.Write(_periodicIndex);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var ram = new byte[128];
        r.ReadBytes(ram);
        byte index = r.ReadByte();
        if (index > 127) throw new StateFormatException($"section {SectionId}: index 0x{index:X2} out of range 0..0x7F");
        bool nmi = r.ReadBool();
        long baseTicks = r.ReadInt64();
        if (baseTicks < 0 || baseTicks > DateTime.MaxValue.Ticks) throw new StateFormatException($"section {SectionId}: base time {baseTicks} is not a date");
        long baseNs = r.ReadInt64();
        bool halted = r.ReadBool();
        long anchor = r.ReadInt64();
        long periodicIndex = r.ReadInt64();
        if (periodicIndex < 0) throw new StateFormatException($"section {SectionId}: periodic count {periodicIndex} is negative");
        ram.CopyTo(_ram, 0);
        _index = index;
        NmiMasked = nmi;
        _baseTicks = baseTicks;
        _baseNs = baseNs;
        _halted = halted;
        _periodicAnchor = anchor;
        _periodicIndex = periodicIndex;
        ArmPeriodic();
        RescheduleSecond();
        Irq8.SetLevel((_ram[RegC] & CIrqf) != 0);
    }
}
