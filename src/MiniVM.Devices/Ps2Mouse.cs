namespace MiniVM.Devices;

/// <summary>
/// A standard PS/2 mouse (device ID 0) on the 8042's auxiliary port: it answers the host command set (reset/BAT,
/// identify, status, sample rate, resolution, scaling, stream/remote mode, enable/disable) so BIOS and guest
/// drivers find a mouse, and reports <see cref="Move"/> as 3-byte stream packets when enabled.
/// </summary>
public sealed class Ps2Mouse : ISnapshottable, IResettable
{
    private const byte Ack = 0xFA;
    private const int QueueLimit = 256;

    private readonly Queue<byte> _output = new();
    private byte _pendingCommand;
    private byte _lastSent;
    private byte _sampleRate = 100;
    private byte _resolution = 2;
    private bool _scaling21;
    private bool _remoteMode;
    private int _buttons;

    public string SectionId => "ps2mouse";
    public int SectionVersion => 1;

    public bool ReportingEnabled { get; private set; }

    internal event Action? DataAvailable;

    /// <summary>Machine reset: power-on defaults (reporting off, stream mode), unread bytes dropped.</summary>
    public void Reset()
    {
        _output.Clear();
        _pendingCommand = 0;
        _buttons = 0;
        SetDefaults();
    }

    internal bool HasData => _output.Count > 0;

    internal bool TryRead(out byte value)
    {
        if (!_output.TryDequeue(out value)) return false;
        _lastSent = value;
        return true;
    }

    /// <summary>Relative motion (dx right, dy up) and button state (bit 0 left, 1 right, 2 middle).</summary>
    public void Move(int dx, int dy, int buttons)
    {
        _buttons = buttons & 7;
        if (!ReportingEnabled || _remoteMode) return;
        if (_output.Count + 3 > QueueLimit) return;
        Enqueue(Packet(dx, dy));
    }

    private byte[] Packet(int dx, int dy)
    {
        dx = Math.Clamp(dx, -255, 255);
        dy = Math.Clamp(dy, -255, 255);
        byte b0 = (byte)(0x08 | _buttons | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0));
        return [b0, (byte)dx, (byte)dy];
    }

    private void Enqueue(params ReadOnlySpan<byte> bytes)
    {
        if (_output.Count + bytes.Length > QueueLimit) return; // host never reads: drop, do not grow
        foreach (byte b in bytes) _output.Enqueue(b);
        DataAvailable?.Invoke();
    }

    private void SetDefaults()
    {
        _sampleRate = 100;
        _resolution = 2;
        _scaling21 = false;
        _remoteMode = false;
        ReportingEnabled = false;
    }

    /// <summary>A byte the host sent with 8042 command 0xD4.</summary>
    internal void Write(byte value)
    {
        if (_pendingCommand != 0)
        {
            byte command = _pendingCommand;
            _pendingCommand = 0;
            if (command == 0xF3) _sampleRate = value;
            else _resolution = (byte)(value & 3);
            Enqueue(Ack);
            return;
        }
        switch (value)
        {
            case 0xE6: _scaling21 = false; Enqueue(Ack); break;
            case 0xE7: _scaling21 = true; Enqueue(Ack); break;
            case 0xE8:
            case 0xF3:
                _pendingCommand = value;
                Enqueue(Ack);
                break;
            case 0xE9: // status request
                Enqueue(Ack,
                    (byte)((_remoteMode ? 0x40 : 0) | (ReportingEnabled ? 0x20 : 0) | (_scaling21 ? 0x10 : 0) |
                           ((_buttons & 1) << 2) | ((_buttons & 4) >> 1) | ((_buttons & 2) >> 1)),
                    _resolution, _sampleRate);
                break;
            case 0xEA: _remoteMode = false; Enqueue(Ack); break;
            case 0xEB: Enqueue(Ack); Enqueue(Packet(0, 0)); break; // read data (remote mode)
            case 0xEC: case 0xEE: Enqueue(Ack); break;             // wrap mode: accepted, not echoed
            case 0xF0: _remoteMode = true; Enqueue(Ack); break;
            case 0xF2: Enqueue(Ack, 0x00); break;
            case 0xF4: ReportingEnabled = true; Enqueue(Ack); break;
            case 0xF5: ReportingEnabled = false; Enqueue(Ack); break;
            case 0xF6: SetDefaults(); Enqueue(Ack); break;
            case 0xFE: Enqueue(_lastSent); break;
            case 0xFF:
                _output.Clear();
                SetDefaults();
                Enqueue(Ack, 0xAA, 0x00);
                break;
            default: Enqueue(0xFE); break;
        }
    }

    public void SaveState(StateWriter w)
    {
        w.Write(_output.Count);
        w.WriteBytes(_output.ToArray());
        w.Write(_pendingCommand); w.Write(_lastSent); w.Write(_sampleRate); w.Write(_resolution);
        w.Write(_scaling21); w.Write(_remoteMode); w.Write(ReportingEnabled); w.Write(_buttons);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        int count = r.ReadInt32InRange(0, QueueLimit + 8, "output queue length");
        var bytes = new byte[count];
        r.ReadBytes(bytes);
        byte pending = r.ReadByte(), last = r.ReadByte(), rate = r.ReadByte(), res = r.ReadByte();
        bool scaling = r.ReadBool(), remote = r.ReadBool(), enabled = r.ReadBool();
        int buttons = r.ReadInt32InRange(0, 7, "buttons");
        _output.Clear();
        foreach (byte b in bytes) _output.Enqueue(b);
        _pendingCommand = pending; _lastSent = last; _sampleRate = rate; _resolution = res;
        _scaling21 = scaling; _remoteMode = remote; ReportingEnabled = enabled; _buttons = buttons;
    }
}
