using System.Buffers.Binary;

namespace MiniVM.Devices.Pci;

/// <summary>
/// The PIIX4 power-management function (82371AB function 3, 8086:7113 rev 3, PIIX4 datasheet §3.4 and §7) as QEMU's
/// i440FX machine has it (hw/acpi/piix4.c), which is what makes SeaBIOS build ACPI tables (src/fw/acpi.c, acpi_setup
/// looks for this ID) and lets an ACPI guest power the machine off.
/// <list type="bullet">
/// <item>Config: PMBA (0x40, bits 15:6, bit 0 reads 1) places the 64-byte PM I/O block, enabled by PMREGMISC (0x80)
/// bit 0; SMBus base (0x90) and SMBHSTCFG (0xD2) are plain registers (no SMBus controller is modelled); DEVACTB
/// bit 25 (0x5B bit 1, APMC_EN) reads set after reset, as QEMU does without SMM, so SeaBIOS skips its SMM setup —
/// our CPU has no SMM; DRSC (0x67) bit 3 says COM1 is decoded, which the DSDT's COM1._STA reads.</item>
/// <item>PM block: PM1a_STS (+0, write-1-to-clear), PM1a_EN (+2), PM1a_CNT (+4: SCI_EN, SLP_TYP, SLP_EN) and the
/// 24-bit PM timer (+8, <see cref="AcpiPmTimer"/>). SLP_EN with SLP_TYP 0 — the _S5 package of SeaBIOS's SSDT and
/// the value SeaBIOS's APM power-off writes — raises <see cref="PowerOffRequested"/>; other sleep types are
/// ignored (the machine offers no S3/S4: PcMachine removes them from SeaBIOS's tables via etc/system-states).</item>
/// <item>Fixed ports as on QEMU: APM control/status 0xB2/0xB3 (0xF1/0xF0 written to 0xB2 set/clear SCI_EN — the
/// FADT's SMI_CMD protocol, ACPI 6.5 §4.8.2.1.2 — other values would raise an SMI, which does not exist here), GPE0
/// at 0xAFE0 (status, write-1-to-clear, then enable; the FADT points there), and the PCI hotplug registers at 0xAE00
/// which report no hot-pluggable slot (SeaBIOS reads PCRM at 0xAE0C to decide which slots get _EJ0).</item>
/// </list>
/// The SCI is ISA IRQ 9, level-triggered and active high: SeaBIOS hard-wires 9 in the FADT and in config 0x3C, and
/// the guest sets the ELCR bit (<see cref="DualPic"/>). It is asserted while an enabled PM1 event (timer carry, power
/// button, RTC, global lock) or GPE0 event is pending, as QEMU's acpi_update_sci.
/// </summary>
public sealed class Piix4PowerManagement : IPciFunction, IPortDevice, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    public const ushort ApmControlPort = 0xB2, ApmStatusPort = 0xB3, Gpe0Base = 0xAFE0, HotplugBase = 0xAE00;
    public const int PmBlockSize = 64, Gpe0Length = 4, HotplugLength = 0x14;
    public const byte AcpiEnableCommand = 0xF1, AcpiDisableCommand = 0xF0;

    // PM1 status/enable bits (ACPI 6.5 tables 4.16/4.17) and PM1 control bits (table 4.18).
    public const ushort TmrSts = 0x0001, GblSts = 0x0020, PwrbtnSts = 0x0100, RtcSts = 0x0400, WakSts = 0x8000;
    public const ushort SciEn = 0x0001, SlpEn = 0x2000;
    private const ushort SciSources = TmrSts | GblSts | PwrbtnSts | RtcSts;
    private const int SlpTypShift = 10;

    private const int Pmba = 0x40, DevactbHigh = 0x5B, Pmregmisc = 0x80, Smbba = 0x90, Smbhstcfg = 0xD2;
    private const int PmTimerOffset = 8;

    private readonly PciConfigSpace _config;
    private readonly VirtualClock _clock;
    private readonly VirtualTimer _overflowTimer;
    private readonly PmBlock _block;
    private PortBus? _ports;
    private ushort _mappedBase; // 0 = the PM block is not decoded

    private ushort _pm1Sts, _pm1En, _pm1Cnt, _gpeSts, _gpeEn;
    private byte _apmControl, _apmStatus;
    private long _overflowTicks;
    private bool _sciLevel;

    /// <param name="clock">Virtual time, which the PM timer counts.</param>
    /// <param name="com1Decoded">Whether a UART answers at 0x3F8 (DRSC bit 3, read by the DSDT's COM1._STA).</param>
    /// <param name="device">PCI device number; function 3 of the PIIX south bridge (01.3 on the PC).</param>
    public Piix4PowerManagement(VirtualClock clock, bool com1Decoded = true, int device = 1)
    {
        if ((uint)device > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "PCI device number must be 0..31");
        _clock = clock;
        Device = device;
        _block = new PmBlock(this);
        _overflowTimer = clock.CreateTimer(_ => UpdateSci());
        _config = new PciConfigSpace(0x8086, 0x7113, classCode: 0x06, subclass: 0x80, revision: 0x03);
        _config.Bytes[0x06] = 0x80; // status: fast back-to-back capable
        _config.Bytes[0x07] = 0x02; // DEVSEL medium
        _config.SetInterruptPin(1);
        // Device registers are plain read/write as in QEMU, except the base registers' fixed bits.
        _config.SetWritable(0x41, 0xBF);
        _config.SetWritable(Pmba, 1, 0xC0);       // PMBA bits 7:6 (the block is 64 bytes); bit 0 reads 1 (I/O space)
        _config.SetWritable(0x42, 2, 0x00);       // PMBA bits 31:16 are reserved
        _config.SetWritable(Smbba, 1, 0xF0);      // SMBBA bits 7:4 (16-byte block); bit 0 reads 1
        _config.SetWritable(0x92, 2, 0x00);
        _config.Bytes[0x5F] = 0x10;               // DRSA..DRSC as QEMU's piix4_pm_machine_ready (no LPT at 0x378)
        _config.Bytes[0x63] = 0x60;
        _config.Bytes[0x67] = com1Decoded ? (byte)0x08 : (byte)0x00;
        _config.Bytes[Smbba] = 0x01;
        _config.Bytes[Smbhstcfg] = 0x00;
        _config.Written += OnConfigWritten;
        Reset();
    }

    public int Device { get; }
    public int Function => 3;
    /// <summary>The SCI: ISA IRQ 9 on this board, the line SeaBIOS's FADT names (as QEMU's piix4_pm).</summary>
    public IrqOutput Sci { get; } = IrqOutput.Isa(9);

    public IReadOnlyList<IrqOutput> IrqOutputs => [Sci];

    public string SectionId => "piix4-pm";
    public int SectionVersion => 1;

    public PciConfigSpace Config => _config;

    /// <summary>The guest wrote SLP_EN with the S5 (soft-off) sleep type: the machine should power off.</summary>
    public event Action? PowerOffRequested;

    /// <summary>The I/O base of the PM block while decoded (PMBA with PMREGMISC bit 0 set), else null.</summary>
    public ushort? PmBase => _mappedBase != 0 ? _mappedBase : null;

    /// <summary>PM1a_CNT.SCI_EN: the OS owns the ACPI events (set by writing 0xF1 to 0xB2).</summary>
    public bool SciEnabled => (_pm1Cnt & SciEn) != 0;

    /// <summary>Whether the SCI wire is asserted now.</summary>
    public bool SciAsserted => _sciLevel;

    /// <summary>Registers the fixed ports (APM, GPE0, PCI hotplug); the PM block follows PMBA/PMREGMISC.</summary>
    public void Attach(PortBus ports)
    {
        _ports = ports;
        ports.Register(ApmControlPort, 2, this);
        ports.Register(Gpe0Base, Gpe0Length, this);
        ports.Register(HotplugBase, HotplugLength, this);
        UpdateMapping();
    }

    /// <summary>Power-on state (PIIX4 §7.2 defaults and QEMU's piix4_reset): PM block off, events clear, ACPI disabled.</summary>
    public void Reset()
    {
        var c = _config.Bytes;
        c[0x04] = 0; c[0x05] = 0;
        c[PciConfigSpace.InterruptLine] = 0;
        c[Pmba] = 0x01; c[Pmba + 1] = 0; c[Pmba + 2] = 0; c[Pmba + 3] = 0;
        c[0x58] = 0; c[0x59] = 0; c[0x5A] = 0;
        c[DevactbHigh] = 0x02; // APMC_EN: "SMM already initialised" — SeaBIOS must not wait for an SMI that never comes
        c[Pmregmisc] = 0;
        _pm1Sts = 0; _pm1En = 0; _pm1Cnt = 0; _gpeSts = 0; _gpeEn = 0;
        _apmControl = 0; _apmStatus = 0;
        _overflowTicks = AcpiPmTimer.NextBit23Change(AcpiPmTimer.TicksAt(_clock.Now));
        UpdateMapping();
        UpdateSci();
    }

    /// <summary>
    /// The power button (QEMU's system_powerdown): sets PWRBTN_STS if the OS enabled it and raises the SCI, after
    /// which an ACPI OS shuts down by itself. Returns false when the event is disabled (no ACPI OS listening).
    /// </summary>
    public bool PressPowerButton()
    {
        if ((_pm1En & PwrbtnSts) == 0) return false;
        _pm1Sts |= PwrbtnSts;
        UpdateSci();
        return true;
    }

    public uint ReadConfig(int offset, int size) => _config.Read(offset, size);

    public void WriteConfig(int offset, int size, uint value) => _config.Write(offset, size, value);

    private void OnConfigWritten(int offset, int size)
    {
        if ((offset < Pmba + 4 && Pmba < offset + size) || (offset <= Pmregmisc && Pmregmisc < offset + size)) UpdateMapping();
    }

    /// <summary>Decodes the PM block where PMBA points while PMREGMISC.PMIOSE is set (QEMU pm_io_space_update).</summary>
    private void UpdateMapping()
    {
        if (_ports is null) return;
        ushort wanted = (_config.Bytes[Pmregmisc] & 1) != 0
            ? (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(_config.Bytes[Pmba..]) & 0xFFC0)
            : (ushort)0;
        if (wanted == _mappedBase) return;
        if (_mappedBase != 0) _ports.Unregister(_mappedBase, PmBlockSize, _block);
        _mappedBase = 0;
        if (wanted == 0) return;
        try
        {
            _ports.Register(wanted, PmBlockSize, _block);
            _mappedBase = wanted;
        }
        catch (InvalidOperationException)
        {
            // Placed over another device's ports: a decode conflict, unreachable until the guest moves it.
        }
    }

    /// <summary>PM1a_STS with TMR_STS brought up to date: it latches once the counter's bit 23 has changed.</summary>
    private ushort CurrentPm1Status()
    {
        if (AcpiPmTimer.TicksAt(_clock.Now) >= _overflowTicks) _pm1Sts |= TmrSts;
        return _pm1Sts;
    }

    /// <summary>Drives the SCI and arms the timer-carry event while TMR_EN is set and TMR_STS clear (QEMU acpi_update_sci).</summary>
    private void UpdateSci(bool driveAlways = false)
    {
        ushort sts = CurrentPm1Status();
        bool level = (sts & _pm1En & SciSources) != 0 || (_gpeSts & _gpeEn) != 0;
        if (level != _sciLevel || driveAlways)
        {
            _sciLevel = level;
            Sci.SetLevel(level);
        }
        if ((_pm1En & TmrSts) != 0 && (sts & TmrSts) == 0) _overflowTimer.Arm(AcpiPmTimer.NanosecondsAt(_overflowTicks));
        else _overflowTimer.Cancel();
    }

    private byte ReadPmByte(int offset)
    {
        return offset switch
        {
            0 or 1 => (byte)(CurrentPm1Status() >> (8 * offset)),
            2 or 3 => (byte)(_pm1En >> (8 * (offset - 2))),
            4 or 5 => (byte)(_pm1Cnt >> (8 * (offset - 4))),
            >= PmTimerOffset and < PmTimerOffset + 4 => (byte)(AcpiPmTimer.RegisterAt(_clock.Now) >> (8 * (offset - PmTimerOffset))),
            _ => 0, // processor control, GPI/GPO and device monitors: not modelled, read as idle
        };
    }

    private void WritePmByte(int offset, byte value)
    {
        switch (offset)
        {
            case 0 or 1:
            {
                ushort clear = (ushort)(value << (8 * offset));
                ushort sts = CurrentPm1Status();
                // Clearing TMR_STS starts the wait for the next change of bit 23 (QEMU acpi_pm1_evt_write_sts).
                if ((sts & clear & TmrSts) != 0) _overflowTicks = AcpiPmTimer.NextBit23Change(AcpiPmTimer.TicksAt(_clock.Now));
                _pm1Sts = (ushort)(sts & ~clear);
                UpdateSci();
                break;
            }
            case 2 or 3:
                _pm1En = Replace(_pm1En, offset - 2, value);
                UpdateSci();
                break;
            case 4 or 5:
                WritePm1Control(Replace(_pm1Cnt, offset - 4, value));
                break;
        }
    }

    /// <summary>PM1a_CNT: SLP_EN is write-only and acts on the SLP_TYP written with it (ACPI 6.5 §4.8.3.2.1).</summary>
    private void WritePm1Control(ushort value)
    {
        _pm1Cnt = (ushort)(value & ~SlpEn);
        if ((value & SlpEn) == 0) return;
        int sleepType = (value >> SlpTypShift) & 7;
        if (sleepType == 0) PowerOffRequested?.Invoke();
    }

    private static ushort Replace(ushort register, int byteIndex, byte value) =>
        byteIndex == 0 ? (ushort)((register & 0xFF00) | value) : (ushort)((register & 0x00FF) | (value << 8));

    public uint ReadPort(ushort port, int size)
    {
        uint v = 0;
        for (int i = 0; i < size; i++) v |= (uint)ReadFixedByte(port + i) << (8 * i);
        return v;
    }

    public void WritePort(ushort port, int size, uint value)
    {
        for (int i = 0; i < size; i++) WriteFixedByte(port + i, (byte)(value >> (8 * i)));
    }

    private byte ReadFixedByte(int port) => port switch
    {
        ApmControlPort => _apmControl,
        ApmStatusPort => _apmStatus,
        Gpe0Base or Gpe0Base + 1 => (byte)(_gpeSts >> (8 * (port - Gpe0Base))),
        Gpe0Base + 2 or Gpe0Base + 3 => (byte)(_gpeEn >> (8 * (port - Gpe0Base - 2))),
        // PCI hotplug: no slot was added, removed, is ejectable (PCRM) or selected — this machine has no hotplug.
        >= HotplugBase and < HotplugBase + HotplugLength => 0,
        _ => 0xFF, // a wide access running past the last fixed port
    };

    private void WriteFixedByte(int port, byte value)
    {
        switch (port)
        {
            case ApmControlPort:
                _apmControl = value;
                if (value == AcpiEnableCommand) _pm1Cnt |= SciEn;
                else if (value == AcpiDisableCommand) _pm1Cnt &= unchecked((ushort)~SciEn);
                break;
            case ApmStatusPort:
                _apmStatus = value;
                break;
            case Gpe0Base or Gpe0Base + 1:
                _gpeSts &= (ushort)~(value << (8 * (port - Gpe0Base)));
                UpdateSci();
                break;
            case Gpe0Base + 2 or Gpe0Base + 3:
                _gpeEn = Replace(_gpeEn, port - Gpe0Base - 2, value);
                UpdateSci();
                break;
        }
    }

    public void SaveState(StateWriter writer)
    {
        _config.Save(writer);
        writer.Write(_pm1Sts); writer.Write(_pm1En); writer.Write(_pm1Cnt);
        writer.Write(_gpeSts); writer.Write(_gpeEn);
        writer.Write(_apmControl); writer.Write(_apmStatus);
        writer.Write(_overflowTicks);
    }

    /// <summary>Restores registers, re-decodes the PM block and re-arms the timer event (the clock section came first).</summary>
    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _config.Load(reader);
        ushort sts = reader.ReadUInt16(), en = reader.ReadUInt16(), cnt = reader.ReadUInt16();
        ushort gpeSts = reader.ReadUInt16(), gpeEn = reader.ReadUInt16();
        byte apmc = reader.ReadByte(), apms = reader.ReadByte();
        long overflow = reader.ReadInt64();
        if ((cnt & SlpEn) != 0) throw new StateFormatException($"section {SectionId}: PM1a_CNT 0x{cnt:X4} has the write-only SLP_EN set");
        if (overflow < 0 || (overflow & 0x7F_FFFF) != 0) throw new StateFormatException($"section {SectionId}: timer overflow tick {overflow} is not a bit-23 boundary");
        _pm1Sts = sts; _pm1En = en; _pm1Cnt = cnt; _gpeSts = gpeSts; _gpeEn = gpeEn;
        _apmControl = apmc; _apmStatus = apms;
        _overflowTicks = overflow;
        UpdateMapping();
        UpdateSci(driveAlways: true); // the PIC section holds the wire's last level; this agrees with it
    }

    /// <summary>The relocatable 64-byte PM register block, a separate bus client so moving it never unmaps the fixed ports.</summary>
    private sealed class PmBlock(Piix4PowerManagement pm) : IPortDevice
    {
        public uint ReadPort(ushort port, int size)
        {
            int offset = port - pm._mappedBase;
            uint v = 0;
            for (int i = 0; i < size; i++)
                v |= (uint)(offset + i < PmBlockSize ? pm.ReadPmByte(offset + i) : 0xFF) << (8 * i);
            return v;
        }

        public void WritePort(ushort port, int size, uint value)
        {
            int offset = port - pm._mappedBase;
            for (int i = 0; i < size && offset + i < PmBlockSize; i++) pm.WritePmByte(offset + i, (byte)(value >> (8 * i)));
        }
    }
}
