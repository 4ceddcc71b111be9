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
    private readonly AtaDrive?[] _drives = new AtaDrive?[2];
    private int _selected;
    private byte _control;
    private bool _irqLevel;

    public IdeChannel(IIrqLine irq, ushort commandBase, ushort controlPort, AtaDrive? master, AtaDrive? slave)
    {
        _irq = irq;
        CommandBase = commandBase;
        ControlPort = controlPort;
        _drives[0] = master;
        _drives[1] = slave;
    }

    public ushort CommandBase { get; }
    public ushort ControlPort { get; }
    public AtaDrive? Master => _drives[0];
    public AtaDrive? Slave => _drives[1];

    /// <summary>The INTRQ line as the interrupt controller sees it.</summary>
    public bool InterruptAsserted => _irqLevel;

    /// <summary>Called whenever INTRQ rises (the PIIX latches it in the bus-master status register).</summary>
    internal Action? InterruptRaised;

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
            return selected?.ReadData(size) ?? (size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu });
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
            return;
        }
        byte b = (byte)value;
        if (reg != 7) _control &= unchecked((byte)~CtlHighOrder); // any command-block write clears HOB (ATA-6 §7.9.6)
        foreach (var d in _drives)
        {
            if (d is null || (d.Status & AtaDrive.StBusy) != 0) continue; // registers are not writable while BSY
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
        if (target is null || (target.Status & AtaDrive.StBusy) != 0) return; // an absent device ignores commands
        target.ExecuteCommand(b);
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
        if (level) InterruptRaised?.Invoke();
    }

    internal void SaveState(StateWriter w)
    {
        w.Write(_selected); w.Write(_control);
        for (int i = 0; i < 2; i++)
        {
            w.Write(_drives[i] is not null);
            _drives[i]?.SaveState(w);
        }
    }

    /// <summary>Reads and validates the channel's state; the returned action applies it.</summary>
    internal Action ReadState(StateReader r)
    {
        int selected = r.ReadInt32InRange(0, 1, "selected device");
        byte control = r.ReadByte();
        var apply = new Action?[2];
        for (int i = 0; i < 2; i++)
        {
            bool present = r.ReadBool();
            if (present != (_drives[i] is not null))
                throw new StateFormatException($"section {r.SectionId}: channel 0x{CommandBase:X} {(i == 0 ? "master" : "slave")} is {(present ? "present" : "absent")} in the state but not in this machine");
            apply[i] = _drives[i]?.ReadState(r);
        }
        return () => Apply(selected, control, apply);
    }

    private void Apply(int selected, byte control, Action?[] drives)
    {
        foreach (var a in drives) a?.Invoke();
        _selected = selected;
        _control = control;
        _irqLevel = (_control & CtlNoInterrupt) == 0 && _drives[_selected] is { InterruptPending: true };
        _irq.SetLevel(_irqLevel);
    }
}
