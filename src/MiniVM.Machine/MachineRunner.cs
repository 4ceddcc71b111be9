using System.Diagnostics;
using System.Text;
using MiniVM.Machine.Monitor;

namespace MiniVM.Machine;

/// <summary>What ended a run.</summary>
public enum RunOutcome
{
    /// <summary>The `--until` text appeared on the serial port or the text screen.</summary>
    UntilMatched,
    /// <summary>`--timeout` seconds of host time passed first.</summary>
    TimedOut,
    /// <summary>The guest stopped the CPU for good (HLT with interrupts disabled), as a power-off without ACPI does.</summary>
    GuestHalted,
    /// <summary>Stopped from outside (monitor `quit`, Ctrl+C).</summary>
    Stopped,
    /// <summary>The guest powered the machine off through ACPI (S5), e.g. Linux's `poweroff`.</summary>
    PoweredOff,
    /// <summary>The BIOS found no drive to boot from (SeaBIOS's "No bootable device." on the screen).</summary>
    NoBootableDevice,
}

/// <summary>
/// The policy of one run: slices of execution, watching the serial port and the text screen for a trigger
/// text, typing `--sendkeys` once the guest waits for input, and the wall-clock timeout.
/// </summary>
public sealed class MachineRunner
{
    /// <summary>Instructions per slice: short enough that stop requests and screen checks are prompt.</summary>
    private const int SliceInstructions = 200_000;
    /// <summary>
    /// Virtual time the screen and serial port must stay unchanged before we type for the guest. Output stops when a
    /// guest sits at a prompt, whether it halts (Linux, SeaBIOS's INT 16h) or polls the keyboard (FreeCOM).
    /// </summary>
    private const long IdleBeforeTypingNs = 500_000_000;

    /// <summary>What SeaBIOS prints when no drive in the boot order holds a boot sector.</summary>
    private const string NoBootableDevice = "No bootable device.";

    private readonly PcMachine _machine;
    private readonly SerialText _serial;
    private volatile bool _stop;

    public MachineRunner(PcMachine machine, SerialText serial)
    {
        _machine = machine;
        _serial = serial;
        Commands = new HumanMonitor(machine);
    }

    /// <summary>The monitor's commands, executed on this thread between slices (stop/cont/quit act on this runner).</summary>
    public HumanMonitor Commands { get; }

    /// <summary>Command lines from the stdio or TCP monitor; each one wakes a halted CPU's wait.</summary>
    public MonitorChannel? MonitorInput
    {
        get => _monitorInput;
        init
        {
            _monitorInput = value;
            if (value is not null) value.Posted += _machine.Clock.Wake.Signal;
        }
    }
    private readonly MonitorChannel? _monitorInput;

    /// <summary>`--monitor-script`: commands fired by guest text, virtual time or instruction counts.</summary>
    public MonitorScript? Script { get; init; }

    /// <summary>Where script commands and their answers are echoed (the CLI: stdout).</summary>
    public Action<string>? ScriptOutput { get; init; }

    private int _scriptIndex;
    private long _stepInstructions, _stepVirtualNs, _virtualNs, _nextScriptScreenCheck;
    private int _stepSerialLength;

    public string? Until { get; init; }
    public TimeSpan? Timeout { get; init; }
    public string? SendKeys { get; init; }

    /// <summary>
    /// `--sendkeys-after TEXT`: hold <see cref="SendKeys"/> until TEXT has appeared on the serial port or the screen.
    /// The quiet rule alone cannot tell a guest that waits for input from one that pauses before it starts reading:
    /// Linux prints its marker, goes quiet, then opens the tty (which drops what was typed) — a cue such as the
    /// shell's prompt makes the typing wait for the reader.
    /// </summary>
    public string? SendKeysAfter { get; init; }

    /// <summary>`--eip-samples`: records the guest's EIP every so many instructions (slices end on its sample points).</summary>
    public EipSampler? Sampler { get; init; }

    /// <summary>
    /// Bytes typed on the host for COM1 (serial stdio); drained into the UART between slices. Whoever fills it signals
    /// the machine clock's <see cref="MachineClock.Wake"/>.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentQueue<byte>? SerialInput { get; init; }

    private readonly System.Collections.Concurrent.ConcurrentQueue<Action> _machineThreadWork = new();

    /// <summary>
    /// Hands work from another thread (a window's or terminal's key presses) to the machine thread: devices are not
    /// thread-safe, so it runs there, between slices, and a halted CPU waiting for its next timer wakes for it.
    /// </summary>
    public void Post(Action work)
    {
        _machineThreadWork.Enqueue(work);
        _machine.Clock.Wake.Signal();
    }

    /// <summary>Instructions executed by this runner.</summary>
    public long Instructions { get; private set; }

    public void RequestStop()
    {
        _stop = true;
        _machine.Clock.Wake.Signal();
    }

    private void DrainSerialInput()
    {
        if (SerialInput is null || SerialInput.IsEmpty || _machine.Serial.PendingInput > 16) return;
        Span<byte> chunk = stackalloc byte[16];
        int n = 0;
        while (n < chunk.Length && SerialInput.TryDequeue(out byte b)) chunk[n++] = b;
        _machine.Serial.Receive(chunk[..n]);
    }

    private void DrainMonitor()
    {
        if (MonitorInput is null) return;
        while (MonitorInput.TryTake(out string line, out var reply)) reply(Commands.Execute(line));
    }

    /// <summary>
    /// Fires every script line whose trigger holds, in order. Counts run from the previous line's firing and only over
    /// executed guest time, so a loadvm's jump of the virtual clock does not fire or delay the next line.
    /// </summary>
    private void RunScript()
    {
        if (Script is null) return;
        while (_scriptIndex < Script.Steps.Count && !Commands.QuitRequested)
        {
            var step = Script.Steps[_scriptIndex];
            bool due = step.Trigger switch
            {
                ScriptTrigger.Immediately => true,
                ScriptTrigger.Instructions => Instructions - _stepInstructions >= step.Amount,
                ScriptTrigger.VirtualTime => _virtualNs - _stepVirtualNs >= step.Amount,
                _ => TextAppeared(step.Text),
            };
            if (!due) return;
            ScriptOutput?.Invoke(HumanMonitor.Prompt + step.Command);
            string answer = Commands.Execute(step.Command);
            if (answer.Length > 0) ScriptOutput?.Invoke(answer);
            _scriptIndex++;
            _stepInstructions = Instructions;
            _stepVirtualNs = _virtualNs;
            _stepSerialLength = _serial.Length;
            _nextScriptScreenCheck = 0;
        }
    }

    private bool TextAppeared(string text)
    {
        if (_serial.Length != _stepSerialLength && _serial.ContainsAfter(text, _stepSerialLength)) return true;
        if (Instructions < _nextScriptScreenCheck) return false;
        _nextScriptScreenCheck = Instructions + 500_000;
        return _machine.Vga.IsTextMode && ScreenShows(_machine.Vga.DumpText(), text);
    }

    /// <summary>
    /// Whether the text screen (<see cref="MiniVM.Devices.Vga.VgaDevice.DumpText"/>: one line per row, trailing blanks dropped) shows
    /// <paramref name="text"/>. Text that ends in blanks — a prompt such as "GO> " — also matches at the end of a row,
    /// where the dump has dropped those blanks.
    /// </summary>
    internal static bool ScreenShows(string screen, string text)
    {
        if (screen.Contains(text, StringComparison.Ordinal)) return true;
        string trimmed = text.TrimEnd(' ');
        if (trimmed.Length == text.Length || trimmed.Length == 0) return false;
        for (int at = screen.IndexOf(trimmed, StringComparison.Ordinal); at >= 0; at = screen.IndexOf(trimmed, at + 1, StringComparison.Ordinal))
        {
            int end = at + trimmed.Length;
            if (end == screen.Length || screen[end] is '\n' or '\r') return true;
        }
        return false;
    }

    public RunOutcome Run()
    {
        var wall = Stopwatch.StartNew();
        string? pendingKeys = string.IsNullOrEmpty(SendKeys) ? null : SendKeys;
        bool cueSeen = string.IsNullOrEmpty(SendKeysAfter);
        int lastSerialLength = _serial.Length;
        string lastScreen = "";
        long lastScreenWrites = -1;
        long quietSince = _machine.Clock.Clock.Now;
        long nextScreenCheck = 0;
        while (true)
        {
            if (_stop) return RunOutcome.Stopped;
            if (Timeout is { } t && wall.Elapsed >= t) return RunOutcome.TimedOut;

            DrainMonitor();
            RunScript();
            if (Commands.QuitRequested) return RunOutcome.Stopped;
            if (Commands.Paused)
            {
                while (_machineThreadWork.TryDequeue(out var pausedWork)) pausedWork();
                if (MonitorInput is { } m) m.WaitForCommand(TimeSpan.FromMilliseconds(50));
                else Thread.Sleep(50);
                continue;
            }

            DrainSerialInput();
            while (_machineThreadWork.TryDequeue(out var work)) work();
            long before = (long)_machine.Cpu.InstructionCount;
            long timeBefore = _machine.Clock.Clock.Now;
            _machine.RunSlice(Sampler?.SliceLimit(Instructions, SliceInstructions) ?? SliceInstructions);
            Instructions += (long)_machine.Cpu.InstructionCount - before;
            _virtualNs += Math.Max(0, _machine.Clock.Clock.Now - timeBefore);
            Sampler?.AfterSlice(Instructions, _machine.Clock.Clock.Now, _machine.Cpu);

            if (_machine.PoweredOff) return RunOutcome.PoweredOff;
            var cpu = _machine.Cpu;
            if (cpu.Halted && (cpu.Eflags & 0x200) == 0 && !_machine.ResetPending) return RunOutcome.GuestHalted;

            long now = _machine.Clock.Clock.Now;
            if (_serial.Length != lastSerialLength)
            {
                if (Until is { } u && _serial.ContainsAfter(u, lastSerialLength)) return RunOutcome.UntilMatched;
                if (!cueSeen && _serial.ContainsAfter(SendKeysAfter!, lastSerialLength)) cueSeen = true;
                lastSerialLength = _serial.Length;
                quietSince = now;
            }
            if (Instructions >= nextScreenCheck || cpu.Halted)
            {
                nextScreenCheck = Instructions + 500_000;
                // An idle guest wakes for every timer tick: the screen is read again only when the guest has written
                // to the VGA since the last look (what follows depends on nothing else).
                if (_machine.Vga.Writes != lastScreenWrites && _machine.Vga.IsTextMode)
                {
                    lastScreenWrites = _machine.Vga.Writes;
                    string screen = _machine.Vga.DumpText();
                    if (screen != lastScreen) { lastScreen = screen; quietSince = now; }
                    if (Until is { } u2 && ScreenShows(screen, u2)) return RunOutcome.UntilMatched;
                    // SeaBIOS would wait and retry for ever (boot-fail-wait): a run that cannot boot says so instead.
                    if (screen.Contains(NoBootableDevice, StringComparison.Ordinal)) return RunOutcome.NoBootableDevice;
                    if (!cueSeen && ScreenShows(screen, SendKeysAfter!)) { cueSeen = true; quietSince = now; }
                }
            }
            if (pendingKeys is not null && cueSeen && now - quietSince >= IdleBeforeTypingNs)
            {
                _machine.Keyboard.TypeText(pendingKeys);
                pendingKeys = null;
            }
        }
    }
}

/// <summary>Everything the guest wrote to COM1, kept for `--until` matching (and echoed by the caller).</summary>
public sealed class SerialText
{
    private readonly StringBuilder _text = new();
    private const int Keep = 1 << 20;

    public int Length => _text.Length;

    public void Append(byte b)
    {
        if (_text.Length >= Keep) _text.Remove(0, Keep / 2);
        _text.Append((char)b);
    }

    /// <summary>Whether <paramref name="s"/> occurs in text that ends after <paramref name="oldLength"/> (only new text is searched).</summary>
    public bool ContainsAfter(string s, int oldLength)
    {
        int start = Math.Max(0, Math.Min(oldLength, _text.Length) - s.Length + 1);
        return _text.ToString(start, _text.Length - start).Contains(s, StringComparison.Ordinal);
    }

    public override string ToString() => _text.ToString();
}
