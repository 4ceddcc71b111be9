namespace MiniVM.Devices;

/// <summary>
/// Intel 8254 programmable interval timer at 0x40-0x43, clocked at 1.193182 MHz (8254 datasheet). Counters are
/// not stepped: each channel remembers the virtual time its count was loaded and derives count and output from
/// <see cref="VirtualClock.Now"/>, so results are exact and deterministic. Channel 0 drives IRQ0 through a
/// <see cref="VirtualTimer"/> armed at the next output transition; channel 2's gate and output belong to port
/// 0x61 (<see cref="SystemControlPortB"/>).
/// </summary>
public sealed class Pit8254 : IPortDevice, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    public const long FrequencyHz = 1_193_182;
    private const long NanosPerSecond = 1_000_000_000;

    private readonly VirtualClock _clock;
    private readonly VirtualTimer _irqTimer;
    private readonly Channel[] _channels = [new(), new(), new()];

    public Pit8254(VirtualClock clock)
    {
        _clock = clock;
        _irqTimer = clock.CreateTimer(OnIrqTimer);
        Reset();
    }

    /// <summary>OUT0, wired to ISA IRQ 0.</summary>
    public IrqOutput Irq0 { get; } = IrqOutput.Isa(0);

    public IReadOnlyList<IrqOutput> IrqOutputs => [Irq0];

    public string SectionId => "pit";
    public int SectionVersion => 1;

    public void Attach(PortBus ports) => ports.Register(0x40, 4, this);

    public void Reset()
    {
        foreach (var c in _channels)
        {
            // The 8254's state after power-up is undefined (datasheet, "Operation"); a PC's OUT0 stays low until the
            // BIOS writes a control word, so nothing raises IRQ0 before the timer is programmed (as on QEMU and Bochs).
            // Mode 0 with no count loaded is that: OUT low, no transition scheduled.
            c.Mode = 0; c.Bcd = false; c.RwMode = 3; c.ReadState = 3; c.WriteState = 3;
            c.Count = 0x10000; c.LoadTime = _clock.Now; c.Loaded = false; c.Triggered = false;
            c.CountLatched = 0; c.StatusLatched = false; c.GateLowSince = -1;
        }
        // Channels 0 and 1 have their gates tied high on the PC; channel 2's gate is port 0x61 bit 0 (starts low).
        _channels[0].Gate = true;
        _channels[1].Gate = true;
        _channels[2].Gate = false;
        _channels[2].GateLowSince = _clock.Now;
        UpdateIrq(_clock.Now);
    }

    /// <summary>The OUT pin of <paramref name="channel"/> now.</summary>
    public bool GetOutput(int channel) => Output(_channels[channel], _clock.Now);

    /// <summary>The counting element of <paramref name="channel"/> now, as the guest would read it (binary).</summary>
    public int GetCount(int channel) => CurrentCount(_channels[channel], _clock.Now);

    public bool GetGate(int channel) => _channels[channel].Gate;

    /// <summary>Drives the GATE input (only channel 2's is wired, to port 0x61 bit 0).</summary>
    public void SetGate(int channel, bool gate)
    {
        var c = _channels[channel];
        if (c.Gate == gate) return;
        long now = _clock.Now;
        c.Gate = gate;
        switch (c.Mode)
        {
            case 0:
            case 4:
                // Gate low suspends counting; when it returns, the count resumes where it stopped.
                if (!gate) c.GateLowSince = now;
                else if (c.GateLowSince >= 0) { c.LoadTime += now - c.GateLowSince; c.GateLowSince = -1; }
                break;
            case 2:
            case 3:
                // Gate low stops counting with OUT high; the rising edge reloads the initial count.
                if (!gate) c.GateLowSince = now;
                else { c.GateLowSince = -1; c.LoadTime = now; }
                break;
            default:
                // Modes 1 and 5 are hardware-triggered: the rising edge (re)starts the count.
                if (gate && c.Loaded) { c.Triggered = true; c.LoadTime = now; }
                break;
        }
        if (c == _channels[0]) UpdateIrq(now);
    }

    private static long TicksSince(Channel c, long time)
    {
        long dt = time - c.LoadTime;
        if (dt <= 0) return 0;
        return (long)((UInt128)(ulong)dt * FrequencyHz / NanosPerSecond);
    }

    /// <summary>Virtual time at which tick <paramref name="tick"/> after the load happens (the first ns it is reached).</summary>
    private static long TimeOfTick(Channel c, long tick) =>
        c.LoadTime + (long)(((UInt128)(ulong)tick * NanosPerSecond + FrequencyHz - 1) / FrequencyHz);

    /// <summary>Counting stopped: not programmed, waiting for a trigger, or gated off.</summary>
    private static bool IsHalted(Channel c) => !c.Loaded || ((c.Mode == 1 || c.Mode == 5) && !c.Triggered);

    private static long EffectiveTime(Channel c, long now) => c.GateLowSince >= 0 ? c.GateLowSince : now;

    private static bool Output(Channel c, long now)
    {
        if (!c.Loaded) return c.Mode != 0; // a control word drives OUT low in mode 0, high otherwise
        if (IsHalted(c)) return true;
        if ((c.Mode == 2 || c.Mode == 3) && !c.Gate) return true;
        long d = TicksSince(c, EffectiveTime(c, now));
        long n = c.Count;
        return c.Mode switch
        {
            0 or 1 => d >= n,                  // low while counting, high at terminal count
            2 => d % n != n - 1,               // low for the one clock at count 1
            3 => d % n < (n + 1) >> 1,         // square wave, high half first
            _ => d != n,                       // modes 4, 5: one low strobe at terminal count
        };
    }

    private static int CurrentCount(Channel c, long now)
    {
        if (IsHalted(c)) return c.Count & 0xFFFF;
        long d = TicksSince(c, EffectiveTime(c, now));
        long n = c.Count;
        return c.Mode switch
        {
            2 => (int)(n - d % n) & 0xFFFF,
            3 => (int)(n - (2 * d) % n) & 0xFFFF,  // mode 3 decrements by two
            _ => (int)((n - d) & 0xFFFF),
        };
    }

    /// <summary>Next virtual time OUT changes, or -1 if it will not change on its own.</summary>
    private static long NextTransition(Channel c, long now)
    {
        if (IsHalted(c) || c.GateLowSince >= 0) return -1;
        long d = TicksSince(c, now);
        long n = c.Count;
        long next;
        switch (c.Mode)
        {
            case 0:
            case 1:
                if (d >= n) return -1;
                next = n;
                break;
            case 2:
                {
                    long r = d % n, b = d - r;
                    next = r < n - 1 ? b + n - 1 : b + n;
                    break;
                }
            case 3:
                {
                    long half = (n + 1) >> 1, r = d % n, b = d - r;
                    next = r < half ? b + half : b + n;
                    break;
                }
            default:
                if (d < n) next = n;
                else if (d == n) next = n + 1;
                else return -1;
                break;
        }
        long t = TimeOfTick(c, next);
        return t <= now ? now + 1 : t;
    }

    private void UpdateIrq(long now)
    {
        var c = _channels[0];
        Irq0.SetLevel(Output(c, now));
        long next = NextTransition(c, now);
        if (next < 0) _irqTimer.Cancel();
        else _irqTimer.Arm(next);
    }

    private void OnIrqTimer(long due) => UpdateIrq(due);

    private static int FromBcd(int v) =>
        (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;

    private static int ToBcd(int v)
    {
        v %= 10000;
        return (v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) | ((v / 1000) << 12);
    }

    private void LoadCount(int index, int value)
    {
        var c = _channels[index];
        long now = _clock.Now;
        int n = c.Bcd ? FromBcd(value) : value;
        if (n == 0) n = c.Bcd ? 10000 : 0x10000;
        c.Count = n;
        c.Loaded = true;
        c.LoadTime = now;
        if (c.Mode is 1 or 5) c.Triggered = false;
        else c.GateLowSince = c.Gate ? -1 : now;
        if (index == 0) UpdateIrq(now);
    }

    private void LatchCount(Channel c)
    {
        if (c.CountLatched != 0) return; // a second latch before the first is read is ignored
        int count = CurrentCount(c, _clock.Now);
        c.LatchedCount = (ushort)(c.Bcd ? ToBcd(count) : count);
        c.CountLatched = c.RwMode;
    }

    public uint ReadPort(ushort port, int size)
    {
        int index = port - 0x40;
        if (index == 3) return 0xFF; // the control word register is write-only
        var c = _channels[index];
        if (c.StatusLatched)
        {
            c.StatusLatched = false;
            return c.Status;
        }
        if (c.CountLatched != 0)
        {
            switch (c.CountLatched)
            {
                case 1: c.CountLatched = 0; return (uint)(c.LatchedCount & 0xFF);
                case 2: c.CountLatched = 0; return (uint)(c.LatchedCount >> 8);
                default: c.CountLatched = 2; return (uint)(c.LatchedCount & 0xFF); // LSB then MSB
            }
        }
        int count = CurrentCount(c, _clock.Now);
        if (c.Bcd) count = ToBcd(count);
        switch (c.ReadState)
        {
            case 1: return (uint)(count & 0xFF);
            case 2: return (uint)((count >> 8) & 0xFF);
            case 3: c.ReadState = 4; return (uint)(count & 0xFF);
            default: c.ReadState = 3; return (uint)((count >> 8) & 0xFF);
        }
    }

    public void WritePort(ushort port, int size, uint value)
    {
        int index = port - 0x40;
        byte v = (byte)value;
        if (index == 3)
        {
            WriteControl(v);
            return;
        }
        var c = _channels[index];
        switch (c.WriteState)
        {
            case 1: LoadCount(index, v); break;
            case 2: LoadCount(index, v << 8); break;
            case 3:
                c.WriteLatch = v;
                c.WriteState = 4;
                // Mode 0: writing the first byte of a new count stops the counter until the second arrives.
                if (c.Mode == 0 && c.Loaded)
                {
                    c.Count = CurrentCount(c, _clock.Now) is var held && held != 0 ? held : 0x10000;
                    c.Loaded = false;
                    if (index == 0) UpdateIrq(_clock.Now);
                }
                break;
            default: c.WriteState = 3; LoadCount(index, c.WriteLatch | (v << 8)); break;
        }
    }

    private void WriteControl(byte v)
    {
        int select = v >> 6;
        if (select == 3)
        {
            // Read-back command (8254 datasheet): bit 5 = 0 latches counts, bit 4 = 0 latches status.
            for (int i = 0; i < 3; i++)
            {
                if ((v & (2 << i)) == 0) continue;
                var c = _channels[i];
                if ((v & 0x20) == 0) LatchCount(c);
                if ((v & 0x10) == 0 && !c.StatusLatched)
                {
                    c.Status = (byte)((Output(c, _clock.Now) ? 0x80 : 0) | (c.Loaded ? 0 : 0x40) |
                                      (c.RwMode << 4) | (c.Mode << 1) | (c.Bcd ? 1 : 0));
                    c.StatusLatched = true;
                }
            }
            return;
        }
        var ch = _channels[select];
        int access = (v >> 4) & 3;
        if (access == 0)
        {
            LatchCount(ch);
            return;
        }
        int mode = (v >> 1) & 7;
        if (mode > 5) mode -= 4; // modes 6 and 7 are aliases of 2 and 3
        ch.RwMode = access;
        ch.ReadState = access;
        ch.WriteState = access;
        ch.Mode = mode;
        ch.Bcd = (v & 1) != 0;
        ch.Loaded = false;
        ch.Triggered = false;
        ch.CountLatched = 0;
        ch.GateLowSince = -1;
        if (select == 0) UpdateIrq(_clock.Now);
    }

    public void SaveState(StateWriter w)
    {
        foreach (var c in _channels)
        {
            w.Write(c.Count); w.Write(c.LoadTime); w.Write(c.Mode); w.Write(c.Bcd); w.Write(c.RwMode);
            w.Write(c.ReadState); w.Write(c.WriteState); w.Write(c.WriteLatch); w.Write(c.LatchedCount);
            w.Write(c.CountLatched); w.Write(c.StatusLatched); w.Write(c.Status); w.Write(c.Gate);
            w.Write(c.Loaded); w.Write(c.Triggered); w.Write(c.GateLowSince);
        }
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        foreach (var c in _channels)
        {
            c.Count = r.ReadInt32InRange(1, 0x10000, "count");
            c.LoadTime = r.ReadInt64();
            c.Mode = r.ReadInt32InRange(0, 5, "mode");
            c.Bcd = r.ReadBool();
            c.RwMode = r.ReadInt32InRange(1, 3, "access mode");
            c.ReadState = r.ReadInt32InRange(1, 4, "read state");
            c.WriteState = r.ReadInt32InRange(1, 4, "write state");
            c.WriteLatch = r.ReadInt32InRange(0, 255, "write latch");
            c.LatchedCount = r.ReadUInt16();
            c.CountLatched = r.ReadInt32InRange(0, 3, "latch state");
            c.StatusLatched = r.ReadBool();
            c.Status = r.ReadByte();
            c.Gate = r.ReadBool();
            c.Loaded = r.ReadBool();
            c.Triggered = r.ReadBool();
            c.GateLowSince = r.ReadInt64();
        }
        UpdateIrq(_clock.Now);
    }

    private sealed class Channel
    {
        public int Count;            // 1..65536 (binary), the initial count
        public long LoadTime;        // virtual ns at which counting (re)started
        public int Mode;
        public bool Bcd;
        public int RwMode;           // 1 = LSB, 2 = MSB, 3 = LSB then MSB
        public int ReadState;        // RwMode, or 4 = MSB of a word access next
        public int WriteState;
        public int WriteLatch;
        public ushort LatchedCount;
        public int CountLatched;     // 0 = none, else the RwMode-like state of the pending latch
        public bool StatusLatched;
        public byte Status;
        public bool Gate;
        public bool Loaded;          // a count has been written since the control word
        public bool Triggered;       // modes 1/5: a gate rising edge started the count
        public long GateLowSince;    // -1, or the virtual time counting stopped because GATE went low
    }
}
