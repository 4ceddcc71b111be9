namespace MiniVM.Devices.Storage;

/// <summary>
/// One legacy IDE channel: the command block (base+0..7) and the control block port (alternate status /
/// device control), a master and a slave slot and one interrupt line. Command-block writes reach both
/// devices, as on the cable; reads come from the selected one. A missing device 1 is answered for by
/// device 0 with status 00h (ATA-6 §9.16.1); a channel with no device floats (all ones).
/// </summary>
public sealed class IdeChannel : IPortDevice
{
    private const byte CtlNoInterrupt = 0x02, CtlSoftReset = 0x04, CtlHighOrder = 0x80;

    private readonly IIrqLine _irq;
    private readonly IdeDevice?[] _drives = new IdeDevice?[2];
    private int _selected;
    private byte _control;
    private bool _irqLevel;

    public IdeChannel(IIrqLine irq, ushort commandBase, ushort controlPort, IdeDevice? master, IdeDevice? slave, BusMasterChannel busMaster)
    {
        _irq = irq;
        BusMaster = busMaster;
        busMaster.Started = RunDma;
        CommandBase = commandBase;
        ControlPort = controlPort;
        _drives[0] = master;
        _drives[1] = slave;
    }

    public ushort CommandBase { get; }
    public ushort ControlPort { get; }
    public IdeDevice? Master => _drives[0];
    public IdeDevice? Slave => _drives[1];

    /// <summary>This channel's half of the PIIX bus master.</summary>
    public BusMasterChannel BusMaster { get; }

    /// <summary>The INTRQ line as the interrupt controller sees it.</summary>
    public bool InterruptAsserted => _irqLevel;


    public void Attach(PortBus ports)
    {
        ports.Register(CommandBase, 8, this);
        ports.Register(ControlPort, 1, this);
    }

    /// <summary>Hardware reset of the channel and its devices.</summary>
    public void Reset()
    {
        _control = 0;
        _selected = 0;
        BusMaster.Reset();
        foreach (var d in _drives) d?.PowerOnReset();
        UpdateIrq();
    }

    private bool Empty => _drives[0] is null && _drives[1] is null;

    public uint ReadPort(ushort port, int size)
    {
        uint value = port == ControlPort ? ReadAltStatus() : ReadRegister(port - CommandBase, size);
        UpdateIrq();
        if (port != CommandBase && size > 1) value |= size == 2 ? 0xFF00u : 0xFFFFFF00u;
        return value;
    }

    public void WritePort(ushort port, int size, uint value)
    {
        if (port == ControlPort) WriteControl((byte)value);
        else WriteRegister(port - CommandBase, size, value);
        UpdateIrq();
    }

    private uint ReadAltStatus()
    {
        if (Empty) return 0xFF;
        return _drives[_selected]?.Status ?? 0x00;
    }

    private uint ReadRegister(int reg, int size)
    {
        if (Empty) return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
        var selected = _drives[_selected];
        if (reg == 0)
        {
            if (selected is null) return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
            return selected.ReadData(size);
        }
        // A present device answers; for an absent device 1, device 0 shows its register copies and status 00h.
        var regs = selected ?? _drives[0] ?? _drives[1]!;
        bool hob = (_control & CtlHighOrder) != 0;
        switch (reg)
        {
            case 1: return selected is null ? 0u : hob ? regs.HobFeature : regs.Error;
            case 2: return hob ? regs.HobSectorCount : regs.SectorCount;
            case 3: return hob ? regs.HobLbaLow : regs.LbaLow;
            case 4: return hob ? regs.HobLbaMid : regs.LbaMid;
            case 5: return hob ? regs.HobLbaHigh : regs.LbaHigh;
            case 6: return regs.DeviceHead;
            default:
                if (selected is null) return 0x00;
                selected.InterruptPending = false; // reading Status acknowledges INTRQ, Alternate Status does not
                return selected.Status;
        }
    }

    private void WriteRegister(int reg, int size, uint value)
    {
        if (reg == 0)
        {
            _drives[_selected]?.WriteData(size, value);
            RunDma(); // the last byte of an ATAPI packet may start a DMA data phase
            return;
        }
        byte b = (byte)value;
        if (reg != 7) _control &= unchecked((byte)~CtlHighOrder); // any command-block write clears HOB (ATA-6 §7.9.6)
        foreach (var d in _drives)
        {
            if (d is null || (d.Status & IdeDevice.StBusy) != 0) continue; // registers are not writable while BSY
            switch (reg)
            {
                // Each register is a two-byte FIFO for LBA48: the previous value becomes the "HOB" half.
                case 1: d.HobFeature = d.Feature; d.Feature = b; break;
                case 2: d.HobSectorCount = d.SectorCount; d.SectorCount = b; break;
                case 3: d.HobLbaLow = d.LbaLow; d.LbaLow = b; break;
                case 4: d.HobLbaMid = d.LbaMid; d.LbaMid = b; break;
                case 5: d.HobLbaHigh = d.LbaHigh; d.LbaHigh = b; break;
                case 6: d.DeviceHead = b; break;
            }
        }
        if (reg == 6) { _selected = (b >> 4) & 1; return; }
        if (reg != 7) return;
        if (b == 0x90)
        {
            // EXECUTE DEVICE DIAGNOSTIC runs on both devices and leaves device 0 selected.
            foreach (var d in _drives) d?.ExecuteCommand(b);
            _selected = 0;
            return;
        }
        var target = _drives[_selected];
        if (target is null || (target.Status & IdeDevice.StBusy) != 0) return; // an absent device ignores commands
        target.ExecuteCommand(b);
        RunDma();
    }

    /// <summary>
    /// A DMA command runs once both halves are there: the device's command and the bus master's start bit, in
    /// either order (Linux starts the engine after the command, SeaBIOS never uses it).
    /// </summary>
    private void RunDma()
    {
        if (!BusMaster.Running || _drives[_selected] is not { DmaPending: true } device) return;
        BusMaster.Run(device);
        UpdateIrq();
    }

    private void WriteControl(byte value)
    {
        bool wasReset = (_control & CtlSoftReset) != 0;
        bool reset = (value & CtlSoftReset) != 0;
        _control = value;
        if (reset && !wasReset)
            foreach (var d in _drives) d?.SoftResetBegin();
        else if (!reset && wasReset)
        {
            foreach (var d in _drives) d?.SoftResetEnd();
            _selected = 0;
        }
    }

    // INTRQ: the selected device's request, unless nIEN masks it (ATA-6 §5.2.9).
    private void UpdateIrq()
    {
        bool level = (_control & CtlNoInterrupt) == 0 && _drives[_selected] is { InterruptPending: true };
        if (level == _irqLevel) return;
        _irqLevel = level;
        _irq.SetLevel(level);
        if (level) BusMaster.LatchInterrupt(); // the PIIX latches INTRQ in the bus-master status (82371SB §2.7.2)
    }

    internal void SaveState(StateWriter w)
    {
        w.Write(_selected); w.Write(_control);
        BusMaster.SaveState(w);
        for (int i = 0; i < 2; i++)
        {
            w.Write(Kind(_drives[i]));
            _drives[i]?.SaveState(w);
        }
    }

    /// <summary>Reads and validates the channel's state; the returned action applies it.</summary>
    internal Action ReadState(StateReader r)
    {
        int selected = r.ReadInt32InRange(0, 1, "selected device");
        byte control = r.ReadByte();
        var busMaster = BusMaster.ReadState(r);
        var apply = new Action?[2];
        for (int i = 0; i < 2; i++)
        {
            // The kind of device (0 none, 1 disk, 2 CD-ROM) must match this machine's.
            byte kind = r.ReadByte();
            if (kind != Kind(_drives[i]))
                throw new StateFormatException($"section {r.SectionId}: channel 0x{CommandBase:X} {(i == 0 ? "master" : "slave")} is {KindName(kind)} in the state but {KindName(Kind(_drives[i]))} in this machine");
            apply[i] = _drives[i]?.ReadState(r);
        }
        return () => { busMaster(); Apply(selected, control, apply); };
    }

    private static byte Kind(IdeDevice? d) => d switch { null => 0, AtapiCdrom => 2, _ => 1 };

    private static string KindName(byte kind) => kind switch { 0 => "absent", 1 => "a disk", 2 => "a CD-ROM", _ => $"kind {kind}" };

    private void Apply(int selected, byte control, Action?[] drives)
    {
        foreach (var a in drives) a?.Invoke();
        _selected = selected;
        _control = control;
        _irqLevel = (_control & CtlNoInterrupt) == 0 && _drives[_selected] is { InterruptPending: true };
        _irq.SetLevel(_irqLevel);
    }
}
