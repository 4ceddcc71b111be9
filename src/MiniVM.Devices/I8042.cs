namespace MiniVM.Devices;

/// <summary>
/// The Intel 8042 keyboard controller at 0x60 (data) and 0x64 (status/command) with a PS/2 keyboard on its
/// first port (IRQ1) and a PS/2 mouse on the auxiliary port (IRQ12). One output buffer is shared: controller
/// replies come first, then keyboard bytes (translated from set 2 to set 1 when command byte bit 6 is set), then
/// mouse bytes. The output port carries A20 (bit 1) and the CPU reset line (bit 0, active low); changes are
/// reported through <see cref="A20Changed"/> and <see cref="ResetRequested"/> for the machine to act on.
/// </summary>
public sealed class I8042 : IPortDevice, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    private const byte StatusOutputFull = 0x01, StatusSystem = 0x04, StatusCommand = 0x08, StatusUnlocked = 0x10,
        StatusAuxData = 0x20;
    private const byte ModeKbdInt = 0x01, ModeAuxInt = 0x02, ModeSystem = 0x04, ModeDisableKbd = 0x10,
        ModeDisableAux = 0x20, ModeTranslate = 0x40;
    private const byte OutReset = 0x01, OutA20 = 0x02;

    private readonly Ps2Keyboard _keyboard;
    private readonly Ps2Mouse _mouse;
    private readonly byte[] _ram = new byte[32];       // controller RAM; byte 0 is the command byte
    private readonly Queue<(byte Value, bool Aux)> _replies = new();
    private byte _status;
    private byte _outputPort;
    private byte _pendingCommand;                      // a command waiting for its data byte on port 0x60
    private byte _data;                                // the output buffer
    private bool _breakPrefix;                         // translation saw an F0 and owes a break code

    public I8042(Ps2Keyboard keyboard, Ps2Mouse mouse)
    {
        _keyboard = keyboard;
        _mouse = mouse;
        keyboard.DataAvailable += Pump;
        mouse.DataAvailable += Pump;
        Reset();
    }

    /// <summary>The output port's A20 gate changed (true = A20 enabled).</summary>
    public event Action<bool>? A20Changed;

    /// <summary>The guest pulsed the CPU reset line (command 0xFE, or output port bit 0 written as 0).</summary>
    public event Action? ResetRequested;

    public bool A20Enabled => (_outputPort & OutA20) != 0;
    public byte CommandByte => _ram[0];

    /// <summary>The keyboard interrupt (output buffer full with keyboard data): ISA IRQ 1.</summary>
    public IrqOutput Irq1 { get; } = IrqOutput.Isa(1);

    /// <summary>The auxiliary-device (mouse) interrupt: ISA IRQ 12.</summary>
    public IrqOutput Irq12 { get; } = IrqOutput.Isa(12);

    public IReadOnlyList<IrqOutput> IrqOutputs => [Irq1, Irq12];

    public string SectionId => "i8042";
    public int SectionVersion => 1;

    public void Attach(PortBus ports)
    {
        ports.Register(0x60, 1, this);
        ports.Register(0x64, 1, this);
    }

    /// <summary>Power-on state as QEMU: interrupts enabled, no translation, A20 and reset lines high.</summary>
    public void Reset()
    {
        Array.Clear(_ram);
        _ram[0] = ModeKbdInt | ModeAuxInt;
        _status = StatusCommand | StatusUnlocked;
        _outputPort = OutReset | OutA20 | 0xCC;
        _pendingCommand = 0;
        _replies.Clear();
        _breakPrefix = false;
        UpdateIrq();
    }

    /// <summary>Scan code set 2 → set 1, the 8042's fixed translation table (IBM PC AT technical reference).</summary>
    public static byte TranslateSet2ToSet1(byte code) => Translation[code];

    private static readonly byte[] Translation = BuildTranslation();

    private static byte[] BuildTranslation()
    {
        byte[] low =
        [
            0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
            0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
            0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
            0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
            0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
            0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
            0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
            0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
        ];
        var table = new byte[256];
        low.CopyTo(table, 0);
        for (int i = 0x80; i < 256; i++) table[i] = (byte)i; // prefixes and replies pass unchanged...
        table[0x83] = 0x41;                                  // ...except F7 and SysRq, whose set 2 codes are above 0x7F
        table[0x84] = 0x54;
        return table;
    }

    private bool OutputFull => (_status & StatusOutputFull) != 0;

    /// <summary>Refills an empty output buffer from controller replies, then the keyboard, then the mouse.</summary>
    private void Pump()
    {
        while (!OutputFull)
        {
            if (_replies.TryDequeue(out var reply))
            {
                Fill(reply.Value, reply.Aux);
                break;
            }
            if ((_ram[0] & ModeDisableKbd) == 0 && _keyboard.TryRead(out byte k))
            {
                if ((_ram[0] & ModeTranslate) != 0)
                {
                    if (k == 0xF0) { _breakPrefix = true; continue; }
                    k = (byte)(Translation[k] | (_breakPrefix ? 0x80 : 0));
                    _breakPrefix = false;
                }
                Fill(k, aux: false);
                break;
            }
            if ((_ram[0] & ModeDisableAux) == 0 && _mouse.TryRead(out byte m))
            {
                Fill(m, aux: true);
                break;
            }
            break;
        }
        UpdateIrq();
    }

    private void Fill(byte value, bool aux)
    {
        _data = value;
        _status = (byte)((_status | StatusOutputFull) & ~StatusAuxData);
        if (aux) _status |= StatusAuxData;
    }

    private void UpdateIrq()
    {
        bool full = OutputFull, aux = (_status & StatusAuxData) != 0;
        Irq1.SetLevel(full && !aux && (_ram[0] & ModeKbdInt) != 0);
        Irq12.SetLevel(full && aux && (_ram[0] & ModeAuxInt) != 0);
    }

    private void Reply(byte value, bool aux = false)
    {
        if (_replies.Count >= 16) return; // a guest that never reads cannot grow the queue
        _replies.Enqueue((value, aux));
        Pump();
    }

    public uint ReadPort(ushort port, int size)
    {
        if (port == 0x64) return _status;
        byte value = _data; // an empty buffer reads the last byte again
        if (OutputFull)
        {
            _status &= unchecked((byte)~(StatusOutputFull | StatusAuxData));
            UpdateIrq();
            Pump();
        }
        return value;
    }

    public void WritePort(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == 0x64) WriteCommand(v);
        else WriteData(v);
    }

    private void WriteCommand(byte command)
    {
        _status |= StatusCommand;
        _pendingCommand = 0;
        switch (command)
        {
            case >= 0x20 and <= 0x3F: // read controller RAM (0x20: command byte)
                Reply(_ram[command & 0x1F]);
                break;
            case >= 0x60 and <= 0x7F: // write controller RAM: data follows
            case 0xD1:                // write output port
            case 0xD2:                // write keyboard output buffer
            case 0xD3:                // write auxiliary output buffer
            case 0xD4:                // write to auxiliary device
                _pendingCommand = command;
                break;
            case 0xA4: Reply(0xF1); break;               // no password installed
            case 0xA7: SetMode((byte)(_ram[0] | ModeDisableAux)); break;
            case 0xA8: SetMode((byte)(_ram[0] & ~ModeDisableAux)); break;
            case 0xA9: Reply(0x00); break;               // auxiliary interface test: OK
            case 0xAA:                                   // controller self-test
                _status |= StatusSystem;
                _outputPort |= OutReset;
                Reply(0x55);
                break;
            case 0xAB: Reply(0x00); break;               // keyboard interface test: OK
            case 0xAD: SetMode((byte)(_ram[0] | ModeDisableKbd)); break;
            case 0xAE: SetMode((byte)(_ram[0] & ~ModeDisableKbd)); break;
            case 0xC0: Reply(0x00); break;               // input port
            case 0xD0:
                Reply((byte)(_outputPort & 0xCF | (OutputFull && (_status & StatusAuxData) == 0 ? 0x10 : 0)
                                               | (OutputFull && (_status & StatusAuxData) != 0 ? 0x20 : 0)));
                break;
            case 0xDD: WriteOutputPort((byte)(_outputPort & ~OutA20)); break;
            case 0xDF: WriteOutputPort((byte)(_outputPort | OutA20)); break;
            case 0xE0: Reply(0x00); break;               // test inputs
            case >= 0xF0:
                // Pulse output port lines low; bit 0 clear pulses the CPU reset line.
                if ((command & 1) == 0) ResetRequested?.Invoke();
                break;
            default:
                break; // undefined commands are ignored by the 8042
        }
    }

    private void WriteData(byte value)
    {
        _status &= unchecked((byte)~StatusCommand);
        byte command = _pendingCommand;
        _pendingCommand = 0;
        switch (command)
        {
            case 0:
                // Sending to the keyboard re-enables its interface, as on real controllers.
                if ((_ram[0] & ModeDisableKbd) != 0) SetMode((byte)(_ram[0] & ~ModeDisableKbd));
                _keyboard.Write(value);
                break;
            case 0x60:
                SetMode(value);
                break;
            case > 0x60 and <= 0x7F:
                _ram[command & 0x1F] = value;
                break;
            case 0xD1:
                WriteOutputPort(value);
                break;
            case 0xD2:
                Reply(value);
                break;
            case 0xD3:
                Reply(value, aux: true);
                break;
            case 0xD4:
                _mouse.Write(value);
                break;
        }
    }

    private void SetMode(byte mode)
    {
        _ram[0] = mode;
        _status = (byte)((_status & ~StatusSystem) | (mode & ModeSystem));
        Pump();
    }

    private void WriteOutputPort(byte value)
    {
        bool a20Before = A20Enabled;
        _outputPort = value;
        if (A20Enabled != a20Before) A20Changed?.Invoke(A20Enabled);
        if ((value & OutReset) == 0) ResetRequested?.Invoke();
    }

    public void SaveState(StateWriter w)
    {
        w.WriteBytes(_ram);
        w.Write(_status); w.Write(_outputPort); w.Write(_pendingCommand); w.Write(_data); w.Write(_breakPrefix);
        w.Write(_replies.Count);
        foreach (var (v, aux) in _replies) { w.Write(v); w.Write(aux); }
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var ram = new byte[32];
        r.ReadBytes(ram);
        byte status = r.ReadByte(), outPort = r.ReadByte(), pending = r.ReadByte(), data = r.ReadByte();
        bool brk = r.ReadBool();
        int n = r.ReadInt32InRange(0, 64, "reply queue length");
        var replies = new (byte, bool)[n];
        for (int i = 0; i < n; i++) replies[i] = (r.ReadByte(), r.ReadBool());
        ram.CopyTo(_ram, 0);
        _status = status; _outputPort = outPort; _pendingCommand = pending; _data = data; _breakPrefix = brk;
        _replies.Clear();
        foreach (var e in replies) _replies.Enqueue(e);
        UpdateIrq();
    }
}
