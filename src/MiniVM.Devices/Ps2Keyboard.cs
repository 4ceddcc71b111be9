namespace MiniVM.Devices;

/// <summary>
/// A PS/2 (MF2) keyboard behind the 8042: answers host commands (reset/BAT, LEDs, echo, identify, scan code set,
/// typematic, enable/disable) and turns key presses into scan code set 2 (or set 1) bytes. The 8042 does the
/// set 2 → set 1 translation when its command byte asks for it. <see cref="TypeText"/> queues key strokes that
/// are released one event per <see cref="TypingIntervalNs"/> of virtual time, only while the host has drained
/// what was sent before, so typed text reaches the guest in order and at a deterministic pace.
/// </summary>
public sealed class Ps2Keyboard : ISnapshottable, IResettable
{
    private const byte Ack = 0xFA;
    private const int QueueLimit = 256;     // bytes waiting for the host; key events beyond are lost, as on hardware
    private const int TypingLimit = 65536;  // queued typed key events

    private readonly Queue<byte> _output = new();
    private readonly Queue<ushort> _typing = new(); // bit 15 = key up, low bits = PcKey value
    private readonly VirtualTimer _typingTimer;
    private readonly VirtualClock _clock;
    private byte _pendingCommand;
    private byte _lastSent;

    public Ps2Keyboard(VirtualClock clock)
    {
        _clock = clock;
        _typingTimer = clock.CreateTimer(OnTypingTimer);
        SetDefaults();
        ScanningEnabled = true;
    }

    public string SectionId => "ps2kbd";
    public int SectionVersion => 1;

    /// <summary>LED bits as last set by the host (0xED): 0 Scroll Lock, 1 Num Lock, 2 Caps Lock.</summary>
    public byte Leds { get; private set; }
    public int ScanCodeSet { get; private set; } = 2;
    public bool ScanningEnabled { get; private set; }
    public byte Typematic { get; private set; }

    /// <summary>Virtual time between two typed key events (default 20 ms).</summary>
    public long TypingIntervalNs { get; set; } = 20_000_000;

    /// <summary>Number of typed key events not yet sent.</summary>
    public int PendingTypedEvents => _typing.Count;

    /// <summary>
    /// Machine reset: power-on defaults, scanning on, unread bytes dropped. Text still waiting to be typed stays
    /// queued, so keys sent before a reboot reach the guest after it.
    /// </summary>
    public void Reset()
    {
        _output.Clear();
        _pendingCommand = 0;
        SetDefaults();
        ScanningEnabled = true;
    }

    /// <summary>Raised when bytes for the host were queued (the 8042 pulls them).</summary>
    internal event Action? DataAvailable;

    internal bool HasData => _output.Count > 0;

    internal bool TryRead(out byte value)
    {
        if (_output.TryDequeue(out value))
        {
            _lastSent = value;
            if (_output.Count == 0 && _typing.Count > 0 && !_typingTimer.IsArmed) _typingTimer.Arm(_clock.Now + TypingIntervalNs);
            return true;
        }
        return false;
    }

    public void KeyDown(PcKey key) => SendKey(key, up: false);

    public void KeyUp(PcKey key) => SendKey(key, up: true);

    /// <summary>Queues a press or release behind the typed text (paced like <see cref="TypeText"/>).</summary>
    public void QueueKey(PcKey key, bool up)
    {
        if (_typing.Count >= TypingLimit) throw new InvalidOperationException($"more than {TypingLimit} typed key events are waiting");
        _typing.Enqueue((ushort)((ushort)key | (up ? 0x8000 : 0)));
        if (!_typingTimer.IsArmed) _typingTimer.Arm(_clock.Now + TypingIntervalNs);
    }

    /// <summary>
    /// Types <paramref name="text"/> on a US layout: letters, digits, punctuation, space, '\n' (Enter), '\t' (Tab),
    /// '\b' (Backspace) and '\x1b' (Escape); Shift is pressed around characters that need it.
    /// </summary>
    public void TypeText(string text)
    {
        foreach (char ch in text)
            if (!TryMapChar(ch, out _, out _)) throw new ArgumentException($"cannot type character U+{(int)ch:X4} ('{ch}') on a US keyboard", nameof(text));
        if (_typing.Count + text.Length * 4 > TypingLimit) throw new ArgumentException($"text of {text.Length} characters exceeds the typing queue", nameof(text));
        foreach (char ch in text)
        {
            TryMapChar(ch, out var key, out bool shift);
            if (shift) QueueKey(PcKey.LeftShift, up: false);
            QueueKey(key, up: false);
            QueueKey(key, up: true);
            if (shift) QueueKey(PcKey.LeftShift, up: true);
        }
    }

    private void OnTypingTimer(long due)
    {
        if (_typing.Count == 0) return;
        // Wait while the host has not consumed the previous key or scanning is off.
        if (_output.Count > 0 || !ScanningEnabled) { _typingTimer.Arm(due + TypingIntervalNs); return; }
        ushort ev = _typing.Dequeue();
        SendKey((PcKey)(ev & 0x7FFF), (ev & 0x8000) != 0);
        if (_typing.Count > 0) _typingTimer.Arm(due + TypingIntervalNs);
    }

    /// <summary>The key (and whether Shift) that types <paramref name="ch"/> on a US layout; false when none does.</summary>
    public static bool TryMapChar(char ch, out PcKey key, out bool shift)
    {
        shift = false;
        key = default;
        if (ch is >= 'a' and <= 'z') { key = Letters[ch - 'a']; return true; }
        if (ch is >= 'A' and <= 'Z') { key = Letters[ch - 'A']; shift = true; return true; }
        if (ch is >= '0' and <= '9') { key = Digits[ch - '0']; return true; }
        int s = ShiftedDigits.IndexOf(ch);
        if (s >= 0) { key = Digits[s]; shift = true; return true; }
        int p = Punctuation.IndexOf(ch);
        if (p >= 0) { key = PunctuationKeys[p]; return true; }
        p = ShiftedPunctuation.IndexOf(ch);
        if (p >= 0) { key = PunctuationKeys[p]; shift = true; return true; }
        switch (ch)
        {
            case ' ': key = PcKey.Space; return true;
            case '\n': key = PcKey.Enter; return true;
            case '\t': key = PcKey.Tab; return true;
            case '\b': key = PcKey.Backspace; return true;
            case '\x1b': key = PcKey.Escape; return true;
            default: return false;
        }
    }

    private static readonly PcKey[] Letters =
    [
        PcKey.A, PcKey.B, PcKey.C, PcKey.D, PcKey.E, PcKey.F, PcKey.G, PcKey.H, PcKey.I, PcKey.J, PcKey.K, PcKey.L, PcKey.M,
        PcKey.N, PcKey.O, PcKey.P, PcKey.Q, PcKey.R, PcKey.S, PcKey.T, PcKey.U, PcKey.V, PcKey.W, PcKey.X, PcKey.Y, PcKey.Z,
    ];
    private static readonly PcKey[] Digits =
        [PcKey.D0, PcKey.D1, PcKey.D2, PcKey.D3, PcKey.D4, PcKey.D5, PcKey.D6, PcKey.D7, PcKey.D8, PcKey.D9];
    private const string ShiftedDigits = ")!@#$%^&*(";
    private const string Punctuation = "`-=[]\\;',./";
    private const string ShiftedPunctuation = "~_+{}|:\"<>?";
    private static readonly PcKey[] PunctuationKeys =
    [
        PcKey.Backquote, PcKey.Minus, PcKey.Equals, PcKey.LeftBracket, PcKey.RightBracket, PcKey.Backslash,
        PcKey.Semicolon, PcKey.Apostrophe, PcKey.Comma, PcKey.Period, PcKey.Slash,
    ];

    private void SendKey(PcKey key, bool up)
    {
        if (!ScanningEnabled) return;
        int code = (int)key;
        if (key == PcKey.Pause)
        {
            if (up) return; // Pause has no break code
            if (ScanCodeSet == 1) Put(0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5);
            else Put(0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77);
            return;
        }
        if (key == PcKey.PrintScreen)
        {
            // The make is "fake left shift" + the key; the break releases them in reverse.
            if (ScanCodeSet == 1) { if (up) Put(0xE0, 0xB7, 0xE0, 0xAA); else Put(0xE0, 0x2A, 0xE0, 0x37); }
            else if (up) Put(0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12);
            else Put(0xE0, 0x12, 0xE0, 0x7C);
            return;
        }
        bool extended = (code >> 8) == 0xE0;
        byte low = (byte)code;
        if (ScanCodeSet == 1)
        {
            byte set1 = I8042.TranslateSet2ToSet1(low);
            if (extended) Put(0xE0, (byte)(set1 | (up ? 0x80 : 0)));
            else Put((byte)(set1 | (up ? 0x80 : 0)));
        }
        else if (extended) { if (up) Put(0xE0, 0xF0, low); else Put(0xE0, low); }
        else if (up) Put(0xF0, low);
        else Put(low);
    }

    private void Put(params ReadOnlySpan<byte> bytes)
    {
        if (_output.Count + bytes.Length > QueueLimit) return; // buffer overrun: the keystroke is lost
        foreach (byte b in bytes) _output.Enqueue(b);
        DataAvailable?.Invoke();
    }

    private void Respond(params ReadOnlySpan<byte> bytes)
    {
        if (_output.Count + bytes.Length > QueueLimit) return; // host never reads: drop, do not grow
        foreach (byte b in bytes) _output.Enqueue(b);
        DataAvailable?.Invoke();
    }

    private void SetDefaults()
    {
        ScanCodeSet = 2;
        Typematic = 0x2B; // 10.9 cps, 500 ms delay
        Leds = 0;
    }

    /// <summary>A byte written by the host to the keyboard (8042 data port with no controller command pending).</summary>
    internal void Write(byte value)
    {
        if (_pendingCommand != 0)
        {
            byte command = _pendingCommand;
            _pendingCommand = 0;
            switch (command)
            {
                case 0xED:
                    Leds = (byte)(value & 7);
                    Respond(Ack);
                    return;
                case 0xF3:
                    Typematic = (byte)(value & 0x7F);
                    Respond(Ack);
                    return;
                case 0xF0:
                    if (value == 0) Respond(Ack, (byte)ScanCodeSet);
                    else if (value is 1 or 2) { ScanCodeSet = value; Respond(Ack); }
                    else Respond(0xFE); // set 3 is not offered
                    return;
            }
        }
        switch (value)
        {
            case 0xED:
            case 0xF0:
            case 0xF3:
                _pendingCommand = value;
                Respond(Ack);
                break;
            case 0xEE: // echo
                Respond(0xEE);
                break;
            case 0xF2: // identify: MF2 keyboard
                Respond(Ack, 0xAB, 0x83);
                break;
            case 0xF4:
                ScanningEnabled = true;
                Respond(Ack);
                break;
            case 0xF5:
                ScanningEnabled = false;
                SetDefaults();
                Respond(Ack);
                break;
            case 0xF6:
                SetDefaults();
                Respond(Ack);
                break;
            case >= 0xF7 and <= 0xFD: // set 3 key attributes: accepted, nothing to change in sets 1/2
                Respond(Ack);
                break;
            case 0xFE:
                Respond(_lastSent);
                break;
            case 0xFF: // reset and basic assurance test
                _output.Clear();
                SetDefaults();
                ScanningEnabled = true;
                Respond(Ack, 0xAA);
                break;
            default:
                Respond(0xFE);
                break;
        }
    }

    public void SaveState(StateWriter w)
    {
        w.Write(_output.Count);
        w.WriteBytes(_output.ToArray());
        w.Write(_typing.Count);
        foreach (ushort ev in _typing) w.Write(ev);
        w.Write(_pendingCommand); w.Write(_lastSent); w.Write(Leds); w.Write(ScanCodeSet);
        w.Write(ScanningEnabled); w.Write(Typematic); w.Write(TypingIntervalNs);
        // A disarmed timer's deadline is stale and not restored: saved as 0 so a restored keyboard saves the same bytes.
        w.Write(_typingTimer.IsArmed); w.Write(_typingTimer.IsArmed ? _typingTimer.Deadline : 0L);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        int outCount = r.ReadInt32InRange(0, QueueLimit + 8, "output queue length");
        var bytes = new byte[outCount];
        r.ReadBytes(bytes);
        int typed = r.ReadInt32InRange(0, TypingLimit, "typing queue length");
        var events = new ushort[typed];
        for (int i = 0; i < typed; i++) events[i] = r.ReadUInt16();
        byte pending = r.ReadByte(), last = r.ReadByte(), leds = r.ReadByte();
        int set = r.ReadInt32InRange(1, 2, "scan code set");
        bool scanning = r.ReadBool();
        byte typematic = r.ReadByte();
        long interval = r.ReadInt64();
        bool armed = r.ReadBool();
        long deadline = r.ReadInt64();
        _output.Clear();
        foreach (byte b in bytes) _output.Enqueue(b);
        _typing.Clear();
        foreach (ushort ev in events) _typing.Enqueue(ev);
        _pendingCommand = pending; _lastSent = last; Leds = leds; ScanCodeSet = set; ScanningEnabled = scanning;
        Typematic = typematic; TypingIntervalNs = interval;
        if (armed) _typingTimer.Arm(deadline); else _typingTimer.Cancel();
    }
}
