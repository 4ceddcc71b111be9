using System.Diagnostics;
using System.Runtime.ExceptionServices;
using MiniVM.Devices;
using MiniVM.Machine;
using MiniVM.Machine.Monitor;

namespace MiniVM.Display.Sdl;

/// <summary>
/// `--display sdl`: the machine runs on its own thread (its <see cref="MachineRunner"/>) while this thread shows
/// the VGA output in an <see cref="SdlWindow"/> at about 30 frames a second and hands key presses and releases to
/// the machine thread, where <see cref="Ps2Keyboard"/> turns them into scan codes (set 2, translated to set 1 by
/// the 8042 when the guest asks). Closing the window stops the run; the end of the run closes the window.
/// Ctrl+Alt+2 shows the monitor as QEMU does, a text console (<see cref="MonitorConsole"/>) drawn with the VGA BIOS's
/// font; Ctrl+Alt+1 (or Escape) shows the guest again. The title names the VM and shows the run state, the snapshot,
/// the keys and the monitor's command line. A click in the window grabs the mouse for the guest's PS/2 mouse (motion
/// and buttons), Ctrl+Alt+G releases it (or grabs it), Ctrl+Alt+F toggles fullscreen, as in QEMU.
/// </summary>
public sealed class MachineWindow
{
    private const int FrameIntervalMs = 33;
    /// <summary>Text-mode cursor and blink attribute phase: VGA blinks the cursor every 16 frames at 60 Hz, about 4 Hz.</summary>
    private const int BlinkHalfPeriodMs = 267;

    private readonly PcMachine _machine;
    private readonly MachineRunner _runner;
    /// <summary>PC keys the guest saw go down and not yet up (by PcKey value), released when the window loses focus.</summary>
    private readonly HashSet<PcKey> _held = [];
    /// <summary>The monitor view's scrollback and command line, kept while the window shows the guest.</summary>
    private readonly MonitorConsole _console = new();
    /// <summary>The VGA BIOS's 8×16 font; null when the ROM has none we recognise (the monitor is then only in the title).</summary>
    private readonly VgaFont? _font;
    /// <summary>Whether the window shows the monitor (Ctrl+Alt+2) rather than the guest.</summary>
    private bool _monitorShown;
    /// <summary>The last monitor command and the first line of its answer (written by the machine thread).</summary>
    private volatile string? _monitorAnswer;

    /// <summary>The VM's name for the title (its first disk).</summary>
    private readonly string _name;
    /// <summary>The window holds the mouse for the guest (read by the title; set on the window's thread).</summary>
    private bool _mouseGrabbed;

    public MachineWindow(PcMachine machine, MachineRunner runner, string name)
    {
        _machine = machine;
        _runner = runner;
        _name = name;
        _font = LoadFont(machine.Options.Firmware.VgaBios);
    }

    /// <summary>The font the guest's text screens use, from the VGA BIOS the machine runs (already loaded once by it).</summary>
    private static VgaFont? LoadFont(string vgaBios)
    {
        try { return VgaFont.FromOptionRom(File.ReadAllBytes(vgaBios)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Runs the machine to the end of the run with a window. When no window can be opened, writes one line to
    /// <paramref name="notice"/> and runs headless on this thread instead: the outcome is the same either way.
    /// </summary>
    public static RunOutcome Run(PcMachine machine, MachineRunner runner, string name, TextWriter notice) =>
        new MachineWindow(machine, runner, name).Run(notice);

    /// <inheritdoc cref="Run(PcMachine, MachineRunner, string, TextWriter)"/>
    public RunOutcome Run(TextWriter notice)
    {
        SdlWindow window;
        try
        {
            // Guests start in 80×25 text (720×400), shown at 4:3; the window scales whatever comes later.
            var (w, h) = ScreenFit.NaturalWindow(720, 400);
            window = SdlWindow.Open(TitleText(), w, h);
        }
        catch (DisplayUnavailableException e)
        {
            notice.WriteLine($"minivm: no display for the SDL window: {e.Message}; running headless");
            return _runner.Run();
        }
        using (window) return RunWith(window, notice);
    }

    private RunOutcome RunWith(SdlWindow window, TextWriter notice)
    {
        RunOutcome outcome = RunOutcome.Stopped;
        ExceptionDispatchInfo? failure = null;
        var machineThread = new Thread(() =>
        {
            try { outcome = _runner.Run(); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        }, 16 << 20) { Name = "machine", IsBackground = true };
        machineThread.Start();

        var clock = Stopwatch.StartNew();
        while (!machineThread.Join(0))
        {
            long frameStart = clock.ElapsedMilliseconds;
            while (window.TryReadInput(out var input))
            {
                switch (input.Kind)
                {
                    case WindowInputKind.CloseRequested:
                        _runner.RequestStop();
                        break;
                    case WindowInputKind.FocusLost:
                        ReleaseHeldKeys();
                        Grab(window, false);
                        break;
                    case WindowInputKind.MouseButton or WindowInputKind.MouseMotion when !_mouseGrabbed:
                        // The mouse is the host's until a click grabs it; that click is the window's, not the guest's.
                        if (input.Kind == WindowInputKind.MouseButton && input.Buttons != 0 && !_monitorShown) Grab(window, true);
                        break;
                    case WindowInputKind.MouseButton or WindowInputKind.MouseMotion:
                        SendMouse(input.Dx, input.Dy, input.Buttons);
                        break;
                    case WindowInputKind.KeyDown when input.CtrlAlt && input.Key == PcKey.G:
                        Grab(window, !_mouseGrabbed);
                        break;
                    case WindowInputKind.KeyDown when input.CtrlAlt && input.Key == PcKey.F:
                        window.Fullscreen = !window.Fullscreen;
                        break;
                    case WindowInputKind.KeyUp when input.CtrlAlt && input.Key is PcKey.G or PcKey.F:
                        break;
                    // QEMU's keys: Ctrl+Alt+2 shows the monitor, Ctrl+Alt+1 the guest again; neither reaches the guest.
                    case WindowInputKind.KeyDown when input.CtrlAlt && input.Key == PcKey.D2:
                        if (!_monitorShown) { ReleaseHeldKeys(); Grab(window, false); _monitorShown = true; _monitorAnswer = null; }
                        break;
                    case WindowInputKind.KeyDown when input.CtrlAlt && input.Key == PcKey.D1:
                        HideMonitor();
                        break;
                    case WindowInputKind.KeyUp when input.CtrlAlt && input.Key is PcKey.D1 or PcKey.D2:
                        break;
                    case WindowInputKind.KeyDown or WindowInputKind.KeyUp when _monitorShown:
                        if (input.Key == PcKey.Escape && input.Kind == WindowInputKind.KeyDown) { HideMonitor(); break; }
                        if (_console.Input.Key(input.Key, input.Kind == WindowInputKind.KeyDown) is { } line) Execute(line, notice);
                        break;
                    case WindowInputKind.KeyDown:
                        Send(input.Key, down: true);
                        break;
                    case WindowInputKind.KeyUp:
                        Send(input.Key, down: false);
                        break;
                }
            }

            window.Title = TitleText();
            ShowFrame(window, frameStart / BlinkHalfPeriodMs % 2 == 0);

            int rest = FrameIntervalMs - (int)(clock.ElapsedMilliseconds - frameStart);
            if (rest > 0) machineThread.Join(rest);
        }
        _machine.Vga.BlinkVisible = true; // screenshots and dumps after the run show the steady screen
        failure?.Throw();
        return outcome;
    }

    /// <summary>Back to the guest; a Shift held now is let go by the time the monitor shows again.</summary>
    private void HideMonitor()
    {
        _monitorShown = false;
        _console.Input.Key(PcKey.LeftShift, down: false);
        _console.Input.Key(PcKey.RightShift, down: false);
    }

    private void ShowFrame(SdlWindow window, bool blinkVisible)
    {
        if (_monitorShown && _font is { } font)
        {
            window.Present(_console.Render(font, blinkVisible), MonitorConsole.Width, MonitorConsole.Height);
            return;
        }
        var vga = _machine.Vga;
        vga.BlinkVisible = blinkVisible;
        try { window.Present(vga.Render()); }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            // The guest reprogrammed the mode while this thread read the registers (VgaDevice renders without
            // locks; the machine thread keeps running): this frame is inconsistent, the next one is not.
        }
        finally { vga.BlinkVisible = true; }
    }

    /// <summary>Hands a key event to the machine thread, where the devices live.</summary>
    private void Send(PcKey key, bool down)
    {
        var keyboard = _machine.Keyboard;
        if (down)
        {
            _held.Add(key);
            _runner.Post(() => keyboard.KeyDown(key));
        }
        else if (_held.Remove(key))
        {
            _runner.Post(() => keyboard.KeyUp(key));
        }
    }

    private void Grab(SdlWindow window, bool grab)
    {
        if (grab == _mouseGrabbed) return;
        _mouseGrabbed = grab;
        window.MouseGrabbed = grab;
        if (!grab) SendMouse(0, 0, 0); // buttons held at release are let go in the guest too
    }

    /// <summary>Motion (window pixels, y down) and buttons to the PS/2 mouse, whose y axis points up.</summary>
    private void SendMouse(int dx, int dy, int buttons)
    {
        var mouse = _machine.Mouse;
        _runner.Post(() => mouse.Move(dx, -dy, buttons));
    }

    private void ReleaseHeldKeys()
    {
        foreach (var key in _held.ToArray()) Send(key, down: false);
    }

    /// <summary>
    /// Runs a monitor command on the machine thread (where the runner executes all monitor commands). The whole
    /// answer goes to the monitor console and to <paramref name="notice"/>, its first line to the title.
    /// </summary>
    private void Execute(string line, TextWriter notice)
    {
        _monitorAnswer = "...";
        var commands = _runner.Commands;
        var console = _console;
        console.Submit(line);
        _runner.Post(() =>
        {
            string answer = commands.Execute(line);
            console.Answer(answer);
            lock (notice)
            {
                notice.WriteLine(HumanMonitor.Prompt + line);
                if (answer.Length > 0) notice.WriteLine(answer);
            }
            int end = answer.IndexOf('\n');
            _monitorAnswer = $"{line}: {(answer.Length == 0 ? "done" : end < 0 ? answer : answer[..end])}";
        });
    }

    private string TitleText()
    {
        var commands = _runner.Commands;
        string title = $"MiniVM - {(commands.Paused ? "paused" : "running")}";
        if (commands.CurrentSnapshot is { Length: > 0 } snapshot) title += $" - snapshot {snapshot}";
        if (!_monitorShown)
            title += $" - {_name} - Ctrl+Alt+2 monitor, " + (_mouseGrabbed ? "Ctrl+Alt+G releases the mouse" : "click or Ctrl+Alt+G grabs the mouse");
        else
        {
            string typed = _console.Input.Text;
            title += typed.Length == 0 && _monitorAnswer is { } answer
                ? $" - monitor: {answer}"
                : $" - monitor {HumanMonitor.Prompt}{typed}_";
        }
        return title;
    }
}
