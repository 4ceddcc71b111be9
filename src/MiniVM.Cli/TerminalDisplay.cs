using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Text;
using MiniVM.Devices;
using MiniVM.Devices.Vga;
using MiniVM.Machine;

namespace MiniVM.Cli;

/// <summary>
/// `--display curses`: the guest's VGA text screen on the terminal, as QEMU's `-display curses` shows it. The rows that
/// changed are redrawn with ANSI escapes about 20 times a second (the terminal's alternate screen, CP437 as Unicode,
/// the 16 VGA colours); keys typed on the terminal (raw mode) reach the guest's PS/2 keyboard as PC key strokes
/// (<see cref="TerminalKeys"/>). Ctrl+A x quits, Ctrl+A c opens a monitor prompt (Ctrl+A or an empty line returns).
/// When the guest starts writing to COM1 (a Linux console), the terminal becomes that serial console instead: the
/// text screen is left and typed bytes go to the serial port, so one terminal serves both kinds of guest.
/// </summary>
public sealed class TerminalDisplay(Stream stdout, string vmName)
{
    private const int FrameIntervalMs = 50;
    /// <summary>The VGA palette order (blue = 1, red = 4) in ANSI's (red = 1, blue = 4).</summary>
    private static readonly int[] AnsiColour = [0, 4, 2, 6, 1, 5, 3, 7];

    private readonly object _terminal = new();
    private readonly TerminalKeys _keys = new();
    private TextScreen? _shown;
    private string? _graphicsNotice;
    private bool _handedOver, _monitor, _monitorPrefix;
    private readonly StringBuilder _monitorLine = new();

    /// <summary>A byte the guest wrote to COM1 (machine thread): the first one hands the terminal to the serial console.</summary>
    public void SerialOut(byte b)
    {
        lock (_terminal)
        {
            if (!_handedOver)
            {
                _handedOver = true;
                Write("\e[0m\e[?25h\e[?1049l");
                Write("minivm: the guest writes to COM1: this terminal is its serial console now (Ctrl+A x quits, Ctrl+A c monitor)\r\n");
            }
            if (!_monitor) stdout.WriteByte(b);
        }
    }

    /// <summary>Runs the machine on its own thread while this one draws and reads the keyboard, to the end of the run.</summary>
    public RunOutcome Run(PcMachine machine, MachineRunner runner, ConcurrentQueue<byte>? serialInput, TextWriter notice)
    {
        using var raw = TerminalMode.EnterRaw();
        if (raw is null)
        {
            notice.WriteLine("minivm: the terminal display needs a terminal on standard input (it cannot be put in raw mode); running without it");
            return runner.Run();
        }
        lock (_terminal)
            Write($"\e[?1049h\e[2J\e]0;MiniVM - {vmName} - Ctrl+A x quits, Ctrl+A c monitor\a");

        RunOutcome outcome = RunOutcome.Stopped;
        ExceptionDispatchInfo? failure = null;
        var machineThread = new Thread(() =>
        {
            try { outcome = runner.Run(); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        }, 16 << 20) { Name = "machine", IsBackground = true };
        var inputThread = new Thread(() => ReadKeys(machine, runner, serialInput)) { Name = "terminal keys", IsBackground = true };
        machineThread.Start();
        inputThread.Start();
        try
        {
            while (!machineThread.Join(FrameIntervalMs)) Draw(machine.Vga);
        }
        finally
        {
            lock (_terminal)
            {
                if (!_handedOver) Write("\e[0m\e[?25h\e[?1049l");
                stdout.Flush();
            }
        }
        failure?.Throw();
        return outcome;
    }

    private void ReadKeys(PcMachine machine, MachineRunner runner, ConcurrentQueue<byte>? serialInput)
    {
        using var stdin = TerminalMode.OpenInput();
        var buffer = new byte[256];
        var keys = new List<TerminalKey>();
        int n;
        while ((n = stdin.Read(buffer, 0, buffer.Length)) > 0)
        {
            var input = buffer.AsSpan(0, n);
            if (_monitor) { MonitorInput(input, runner); continue; }
            keys.Clear();
            TerminalCommand command;
            if (_handedOver && serialInput is not null) command = ToSerial(input, serialInput, machine.Clock.Wake);
            else
            {
                command = _keys.Parse(input, keys);
                if (keys.Count > 0)
                {
                    var typed = keys.ToArray();
                    var keyboard = machine.Keyboard;
                    runner.Post(() => Type(keyboard, typed));
                }
            }
            if (command == TerminalCommand.Quit) { runner.RequestStop(); return; }
            if (command == TerminalCommand.Monitor) OpenMonitor();
        }
    }

    /// <summary>Serial console: bytes go to COM1 as typed; only the Ctrl+A commands are taken out.</summary>
    private TerminalCommand ToSerial(ReadOnlySpan<byte> input, ConcurrentQueue<byte> serialInput, HostWake wake)
    {
        var command = TerminalCommand.None;
        foreach (byte b in input)
        {
            if (_monitorPrefix)
            {
                _monitorPrefix = false;
                if (b is (byte)'x' or (byte)'X') { command = TerminalCommand.Quit; break; }
                if (b is (byte)'c' or (byte)'C') { command = TerminalCommand.Monitor; break; }
                if (b != 0x01) continue;
            }
            else if (b == 0x01) { _monitorPrefix = true; continue; }
            serialInput.Enqueue(b);
        }
        wake.Signal();
        return command;
    }

    /// <summary>Each key with its modifiers pressed around it, through the keyboard's typing queue (machine thread).</summary>
    private static void Type(Ps2Keyboard keyboard, TerminalKey[] keys)
    {
        try
        {
            foreach (var k in keys)
            {
                if (k.Ctrl) keyboard.QueueKey(PcKey.LeftCtrl, up: false);
                if (k.Alt) keyboard.QueueKey(PcKey.LeftAlt, up: false);
                if (k.Shift) keyboard.QueueKey(PcKey.LeftShift, up: false);
                keyboard.QueueKey(k.Key, up: false);
                keyboard.QueueKey(k.Key, up: true);
                if (k.Shift) keyboard.QueueKey(PcKey.LeftShift, up: true);
                if (k.Alt) keyboard.QueueKey(PcKey.LeftAlt, up: true);
                if (k.Ctrl) keyboard.QueueKey(PcKey.LeftCtrl, up: true);
            }
        }
        catch (InvalidOperationException)
        {
            // The guest has not read the keys typed before (its typing queue is full): these are dropped, as a
            // full PC keyboard buffer beeps and drops them.
        }
    }

    private void OpenMonitor()
    {
        lock (_terminal)
        {
            _monitor = true;
            _monitorLine.Clear();
            Write("\e[0m\e[2J\e[H\e[?25hMiniVM monitor (Ctrl+A or an empty line returns to the guest)\r\n" + Machine.Monitor.HumanMonitor.Prompt);
        }
    }

    private void CloseMonitor()
    {
        lock (_terminal)
        {
            _monitor = false;
            _shown = null; // redraw everything
            _graphicsNotice = null;
            if (!_handedOver) Write("\e[2J");
            else Write("\r\n");
        }
    }

    /// <summary>A line editor for monitor commands; each line runs on the machine thread, its answer is printed.</summary>
    private void MonitorInput(ReadOnlySpan<byte> input, MachineRunner runner)
    {
        foreach (byte b in input)
        {
            if (b == 0x01) { CloseMonitor(); return; }
            if (b is (byte)'\r' or (byte)'\n')
            {
                string line = _monitorLine.ToString().Trim();
                _monitorLine.Clear();
                if (line.Length == 0) { CloseMonitor(); return; }
                lock (_terminal) Write("\r\n");
                var commands = runner.Commands;
                runner.Post(() =>
                {
                    string answer = commands.Execute(line);
                    lock (_terminal)
                        Write((answer.Length > 0 ? answer.Replace("\n", "\r\n") + "\r\n" : "") + Machine.Monitor.HumanMonitor.Prompt);
                });
                continue;
            }
            lock (_terminal)
            {
                if (b is 0x7F or 0x08)
                {
                    if (_monitorLine.Length > 0) { _monitorLine.Length--; Write("\b \b"); }
                }
                else if (b is >= 0x20 and < 0x7F)
                {
                    _monitorLine.Append((char)b);
                    stdout.WriteByte(b);
                }
                stdout.Flush();
            }
        }
    }

    private void Draw(VgaDevice vga)
    {
        TextScreen? screen;
        try { screen = vga.ReadTextScreen(); }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return; // the guest reprogrammed the mode while this thread read it; the next frame is consistent
        }
        lock (_terminal)
        {
            if (_handedOver || _monitor) return;
            if (screen is null)
            {
                string text = $"The guest is in a graphics mode: `--display sdl` shows it.";
                if (_graphicsNotice != text) { Write($"\e[0m\e[2J\e[H{text}"); _graphicsNotice = text; _shown = null; }
                return;
            }
            _graphicsNotice = null;
            var frame = new StringBuilder();
            int width = TerminalSize(Console.WindowWidth, 80), height = TerminalSize(Console.WindowHeight, 25);
            int cols = Math.Min(screen.Columns, width), rows = Math.Min(screen.Rows, height);
            bool sameShape = _shown is { } old && old.Columns == screen.Columns && old.Rows == screen.Rows;
            if (!sameShape) frame.Append("\e[0m\e[2J");
            for (int row = 0; row < rows; row++)
            {
                if (sameShape && screen.Cells.AsSpan(row * screen.Columns, screen.Columns)
                        .SequenceEqual(_shown!.Cells.AsSpan(row * screen.Columns, screen.Columns))) continue;
                frame.Append("\e[").Append(row + 1).Append(";1H");
                int attribute = -1;
                for (int col = 0; col < cols; col++)
                {
                    ushort cell = screen[row, col];
                    int a = cell >> 8;
                    if (a != attribute) { AppendColours(frame, a); attribute = a; }
                    char ch = Cp437.ToChar((byte)cell);
                    frame.Append(ch < ' ' ? ' ' : ch);
                }
                frame.Append("\e[0m");
            }
            bool cursorMoved = _shown is null || _shown.CursorColumn != screen.CursorColumn || _shown.CursorRow != screen.CursorRow ||
                               _shown.CursorVisible != screen.CursorVisible;
            if (frame.Length > 0 || cursorMoved)
            {
                frame.Append(screen.CursorVisible && screen.CursorRow < rows && screen.CursorColumn < cols
                    ? $"\e[{screen.CursorRow + 1};{screen.CursorColumn + 1}H\e[?25h"
                    : "\e[?25l");
                Write(frame.ToString());
            }
            _shown = screen;
        }
    }

    private static int TerminalSize(int reported, int fallback) => reported > 0 ? reported : fallback;

    /// <summary>SGR for a VGA attribute: foreground 0..15 (bright as 90..97), background 0..7.</summary>
    private static void AppendColours(StringBuilder s, int attribute)
    {
        int fg = attribute & 0x0F, bg = (attribute >> 4) & 7;
        s.Append("\e[0;").Append(fg >= 8 ? 90 + AnsiColour[fg - 8] : 30 + AnsiColour[fg]).Append(';').Append(40 + AnsiColour[bg]).Append('m');
    }

    private void Write(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        stdout.Write(bytes);
        stdout.Flush();
    }
}
