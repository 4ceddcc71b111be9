using System.Diagnostics;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>
/// `minivm run --display sdl` on a private Xvfb: FreeDOS boots in the window, keys typed through X (xdotool) reach
/// the guest, and the window's pixels (captured with ImageMagick's import) show the emulator's own framebuffer
/// PNG (--screenshot), scaled to 4:3 and to a resized window. Tagged Display: needs xvfb, xdotool, imagemagick
/// and libsdl2-2.0-0, which tests/run.sh installs.
/// </summary>
[Trait("Category", "Display")]
public sealed class XvfbWindowTests : IDisposable
{
    /// <summary>Share of frame pixels allowed to differ for "the window shows this frame": the text cursor blinks.</summary>
    private const double SameScreen = 0.005;
    /// <summary>Share that must differ for "a different screen" (the comparison can tell screens apart).</summary>
    private const double OtherScreen = 0.02;

    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-sdl").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Temp(string name) => Path.Combine(_dir, name);

    [Fact]
    public void TypedKeysReachFreeDosAndTheWindowShowsTheFramebuffer()
    {
        // The screen at the prompt, from a headless run: the virtual clock makes both runs show the same text.
        File.Copy(MiniVmChild.Guest("freedos722.img"), Temp("headless.img"));
        using (var headless = new MiniVmChild(_dir, new Dictionary<string, string?>(), "run", "--fda", Temp("headless.img"),
                   "--serial", "none", "--until", @"A:\>", "--timeout", "200", "--screenshot", Temp("prompt.png")))
        {
            var h = headless.WaitForExit(TimeSpan.FromMinutes(4));
            Assert.True(h.ExitCode == 0, $"headless boot: exit {h.ExitCode}: {h.Stderr}");
        }
        var prompt = ReadPng(Temp("prompt.png"));
        Assert.Equal((720, 400), (prompt.Width, prompt.Height));

        using var x = new XvfbServer();
        File.Copy(MiniVmChild.Guest("freedos722.img"), Temp("window.img"));
        using var vm = new MiniVmChild(_dir, new Dictionary<string, string?> { ["DISPLAY"] = x.Display, ["WAYLAND_DISPLAY"] = null },
            "run", "--display", "sdl", "--fda", Temp("window.img"), "--serial", "none", "--timeout", "200",
            "--screenshot", Temp("end.png"), "--screen-dump", Temp("end.txt"));

        string window = WaitForWindow(x.Display, vm);
        // The title names the VM (its first disk) and the keys to the monitor and the mouse grab.
        Assert.Equal("MiniVM - running - window.img - Ctrl+Alt+2 monitor, click or Ctrl+Alt+G grabs the mouse",
            HostTool.Check(x.Display, "xdotool", "getwindowname", window).Text);
        HostTool.Check(x.Display, "xdotool", "windowmove", "--sync", window, "0", "0");
        var geometry = HostTool.Check(x.Display, "xdotool", "getwindowgeometry", window).Text;
        Assert.Contains("Geometry: 720x540", geometry); // 720×400 text shown at 4:3

        // The window reaches the prompt screen that the headless run saved.
        var atPrompt = WaitForScreen(x.Display, window, vm, shot => Mismatch(shot, prompt) <= SameScreen, "the FreeDOS prompt");

        HostTool.Check(x.Display, "xdotool", "windowfocus", "--sync", window);
        HostTool.Check(x.Display, "xdotool", "type", "--delay", "60", "ver");
        HostTool.Check(x.Display, "xdotool", "key", "Return");

        // Ctrl+Alt+2 switches to the monitor (QEMU's key): typing goes to its command line in the title bar, the guest
        // sees none of it; `stop` and `cont` show in the run state; Ctrl+Alt+1 goes back to the guest.
        string Title() => HostTool.Check(x.Display, "xdotool", "getwindowname", window).Text;
        HostTool.Check(x.Display, "xdotool", "key", "ctrl+alt+2");
        WaitFor(() => Title() == "MiniVM - running - monitor (minivm) _", vm, "the monitor's command line in the title");
        HostTool.Check(x.Display, "xdotool", "type", "--delay", "60", "stop");
        HostTool.Check(x.Display, "xdotool", "key", "Return");
        WaitFor(() => Title() == "MiniVM - paused - monitor: stop: done", vm, "the title to show the paused machine");
        HostTool.Check(x.Display, "xdotool", "type", "--delay", "60", "cont");
        HostTool.Check(x.Display, "xdotool", "key", "Return");
        WaitFor(() => Title() == "MiniVM - running - monitor: cont: done", vm, "the title to show the running machine");
        HostTool.Check(x.Display, "xdotool", "key", "ctrl+alt+1");
        WaitFor(() => Title().StartsWith("MiniVM - running - window.img - ", StringComparison.Ordinal), vm, "the guest view again");

        // The command's output scrolls the screen; wait until the window holds still on a new screen.
        var typed = WaitForScreen(x.Display, window, vm, shot => Mismatch(shot, prompt) > OtherScreen, "the output of 'ver'");
        PpmImage last = typed;
        WaitFor(() =>
        {
            Thread.Sleep(1000);
            var now = Capture(x.Display, window);
            bool still = Mismatch(now, Downscaled(last, 720, 400)) <= SameScreen;
            last = now;
            return still;
        }, vm, "the screen to settle after 'ver'");

        // Scaling follows the window: a wide window shows the same frame at 4:3 between black bars.
        HostTool.Check(x.Display, "xdotool", "windowsize", "--sync", window, "1000", "500");
        var wide = WaitForScreen(x.Display, window, vm, shot => shot.Width == 1000 && Mismatch(shot, Downscaled(last, 720, 400)) <= SameScreen, "the resized window");
        var fit = ScreenFit.Into(720, 400, 1000, 500);
        Assert.Equal(667, fit.Width);
        for (int y = 0; y < 500; y += 7)
        {
            Assert.Equal(0, wide[fit.X / 2, y]);
            Assert.Equal(0, wide[fit.X + fit.Width + (1000 - fit.X - fit.Width) / 2, y]);
        }

        vm.Interrupt();
        var end = vm.WaitForExit(TimeSpan.FromMinutes(1));
        Assert.True(end.ExitCode == 0, $"exit {end.ExitCode}: {end.Stderr}");
        Assert.DoesNotContain("no display", end.Stderr);
        Assert.Contains("(minivm) stop\n", end.Stderr.Replace("\r", ""));

        // The guest saw the typed command and nothing of what was typed into the monitor.
        string text = File.ReadAllText(Temp("end.txt"));
        Assert.Contains("A:\\>ver\n", text);
        Assert.Equal(2, CountOf(text, "FreeCom version 0.82"));
        Assert.EndsWith("A:\\>\n", text.TrimEnd('\n') + "\n");

        // The emulator's own framebuffer is what the window showed, both at 720×540 and in the wide window.
        var framebuffer = ReadPng(Temp("end.png"));
        Assert.True(Mismatch(last, framebuffer) <= SameScreen, $"window vs --screenshot: {Mismatch(last, framebuffer):P2} of pixels differ");
        Assert.True(Mismatch(wide, framebuffer) <= SameScreen, $"wide window vs --screenshot: {Mismatch(wide, framebuffer):P2} of pixels differ");
        // ... and the measure tells screens apart: the prompt screen before typing is not that frame.
        Assert.True(Mismatch(atPrompt, framebuffer) > OtherScreen, $"prompt vs end differ by only {Mismatch(atPrompt, framebuffer):P2}");
    }

    [Fact]
    public void MikeOsColoursAndAnArrowKeyReachTheWindow()
    {
        using var x = new XvfbServer();
        File.Copy(MiniVmChild.Guest("mikeos-4.6.1.img"), Temp("mikeos.img"));
        using var vm = new MiniVmChild(_dir, new Dictionary<string, string?> { ["DISPLAY"] = x.Display, ["WAYLAND_DISPLAY"] = null },
            "run", "--display", "sdl", "--fda", Temp("mikeos.img"), "--serial", "none", "--timeout", "200",
            "--screenshot", Temp("end.png"), "--screen-dump", Temp("end.txt"));
        string window = WaitForWindow(x.Display, vm);
        HostTool.Check(x.Display, "xdotool", "windowmove", "--sync", window, "0", "0");

        // The welcome dialog: white OK button on the red box; Right (an E0-prefixed key) moves the choice to Cancel.
        var dialog = WaitForScreen(x.Display, window, vm, shot => WhiteShare(shot, OkButton) > 0.5, "MikeOS's dialog with OK chosen");
        Assert.True(WhiteShare(dialog, CancelButton) < 0.3, $"Cancel already white: {WhiteShare(dialog, CancelButton):P0}");
        HostTool.Check(x.Display, "xdotool", "windowfocus", "--sync", window);
        HostTool.Check(x.Display, "xdotool", "key", "Right");
        var moved = WaitForScreen(x.Display, window, vm, shot => WhiteShare(shot, CancelButton) > 0.5, "Cancel to be chosen");
        Assert.True(WhiteShare(moved, OkButton) < 0.3, $"OK still white: {WhiteShare(moved, OkButton):P0}");
        Thread.Sleep(1000);
        var last = Capture(x.Display, window);

        vm.Interrupt();
        var end = vm.WaitForExit(TimeSpan.FromMinutes(1));
        Assert.True(end.ExitCode == 0, $"exit {end.ExitCode}: {end.Stderr}");
        Assert.Contains("Welcome to MikeOS", File.ReadAllText(Temp("end.txt")));
        var framebuffer = ReadPng(Temp("end.png"));
        Assert.True(Mismatch(last, framebuffer) <= SameScreen, $"window vs --screenshot: {Mismatch(last, framebuffer):P2} of pixels differ");
        // The colours themselves: the desktop is blue and the dialog red in both (a swapped channel order fails here).
        Assert.Equal(0x5555FF, framebuffer[20, 100]);
        Assert.Equal(0x5555FF, last[20, 100 * 540 / 400]);
        Assert.Equal(0xAA0000, framebuffer[175, 250]);
        Assert.Equal(0xAA0000, last[175, 250 * 540 / 400]);
    }

    /// <summary>MikeOS 4.6.1's dialog buttons in frame pixels (720×400): left, top, width, height.</summary>
    private static readonly (int X, int Y, int W, int H) OkButton = (245, 225, 68, 14), CancelButton = (385, 225, 68, 14);

    /// <summary>Share of white pixels in a frame-pixel rectangle of a 720×540 window capture.</summary>
    private static double WhiteShare(PpmImage window, (int X, int Y, int W, int H) r)
    {
        var fit = ScreenFit.Into(720, 400, window.Width, window.Height);
        int white = 0;
        for (int y = r.Y; y < r.Y + r.H; y++)
            for (int x = r.X; x < r.X + r.W; x++)
                if (window[fit.X + (int)((x + 0.5) * fit.Width / 720), fit.Y + (int)((y + 0.5) * fit.Height / 400)] == 0xFFFFFF) white++;
        return (double)white / (r.W * r.H);
    }

    [Fact]
    public void SavevmTypedIntoTheWindowsMonitorNamesTheSnapshotInTheTitle()
    {
        using var x = new XvfbServer();
        File.Copy(MiniVmChild.Guest("freedos722.img"), Temp("fd.img"));
        using (var create = new MiniVmChild(_dir, new Dictionary<string, string?>(), "img", "create", "-f", "irow", Temp("disk.irow"), "8M"))
            Assert.Equal(0, create.WaitForExit(TimeSpan.FromMinutes(1)).ExitCode);
        using var vm = new MiniVmChild(_dir, new Dictionary<string, string?> { ["DISPLAY"] = x.Display, ["WAYLAND_DISPLAY"] = null },
            "run", "--display", "sdl", "--drive", $"if=floppy,index=0,file={Temp("fd.img")},readonly=on", "--hda", Temp("disk.irow"),
            "--boot", "a", "--serial", "none", "--timeout", "200");
        string window = WaitForWindow(x.Display, vm);
        string Title() => HostTool.Check(x.Display, "xdotool", "getwindowname", window).Text;
        HostTool.Check(x.Display, "xdotool", "windowfocus", "--sync", window);
        HostTool.Check(x.Display, "xdotool", "key", "ctrl+alt+2");
        HostTool.Check(x.Display, "xdotool", "type", "--delay", "60", "savevm s1");
        HostTool.Check(x.Display, "xdotool", "key", "Return");
        WaitFor(() => Title().StartsWith("MiniVM - running - snapshot s1 - monitor: savevm s1: saved 's1' (id 1,", StringComparison.Ordinal), vm, "the snapshot in the title");

        // The window shows the monitor as a text console in the VGA font: banner, the command after its prompt, the
        // answer, a fresh prompt — the picture MonitorConsole draws for those lines (the cursor blinks: a few pixels).
        string answer = Title()["MiniVM - running - snapshot s1 - monitor: savevm s1: ".Length..];
        var expected = new MonitorConsole();
        expected.Submit("savevm s1");
        expected.Answer(answer);
        var font = VgaFont.FromOptionRom(File.ReadAllBytes(Path.Combine(MiniVmChild.RepoRoot, "firmware", "vgabios-stdvga.bin")));
        Assert.NotNull(font);
        var console = Frame(expected.Render(font, cursorVisible: false), MonitorConsole.Width, MonitorConsole.Height);
        WaitForScreen(x.Display, window, vm, shot => Mismatch(shot, console) <= SameScreen, "the monitor console with the savevm answer");
        Assert.Equal(0xAAAAAA, console[0, 2]); // the banner's M starts at the cell's left edge, light grey on black
        Assert.Equal(0, console[0, 0]);

        HostTool.Check(x.Display, "xdotool", "key", "ctrl+alt+1");
        WaitFor(() => Title().StartsWith("MiniVM - running - snapshot s1 - fd.img - ", StringComparison.Ordinal), vm, "the guest view with the snapshot in the title");
        WaitForScreen(x.Display, window, vm, shot => Mismatch(shot, console) > OtherScreen, "the guest's screen again");
        vm.Interrupt();
        var end = vm.WaitForExit(TimeSpan.FromMinutes(1));
        Assert.True(end.ExitCode == 0, $"exit {end.ExitCode}: {end.Stderr}");
        using var list = new MiniVmChild(_dir, new Dictionary<string, string?>(), "img", "snapshot", "-l", Temp("disk.irow"));
        var l = list.WaitForExit(TimeSpan.FromMinutes(1));
        Assert.Contains(" s1 ", l.Stdout);
    }

    /// <summary>
    /// A boot sector (nasm source: tests/MiniVM.Display.Sdl.Tests/ps2-mouse-echo.asm) that enables the PS/2 mouse through
    /// the 8042 and prints every byte the mouse sends, in hex, on COM1 and the screen.
    /// </summary>
    private const string MouseEchoSector =
        "fa31c08ed88ed0bc007ce464a8017404e460ebf6b0a8e83c00b0d4e83700b0f4e83800e660be7a7cac84c07405e83c00ebf6e464a80174fa" +
        "88c4e460f6c42074f150c0e804e81c0058240fe81600b020e81900ebdde80300e664c350e464a80275fa58c304303c397602040750baf803" +
        "eeb40ebb0700cd1058c34d4f5553452d52454144590d0a";

    [Fact]
    public void AClickGrabsTheMouseAndTheGuestReadsItsMotionAndButtons()
    {
        var image = new byte[1_474_560];
        Convert.FromHexString(MouseEchoSector).CopyTo(image, 0);
        image[510] = 0x55;
        image[511] = 0xAA;
        File.WriteAllBytes(Temp("mouse.img"), image);
        using var x = new XvfbServer();
        using var vm = new MiniVmChild(_dir, new Dictionary<string, string?> { ["DISPLAY"] = x.Display, ["WAYLAND_DISPLAY"] = null },
            "run", "--display", "sdl", "--fda", Temp("mouse.img"), "--serial", $"file:{Temp("com1.txt")}", "--timeout", "200");
        string window = WaitForWindow(x.Display, vm);
        string Title() => HostTool.Check(x.Display, "xdotool", "getwindowname", window).Text;
        string Com1() => File.Exists(Temp("com1.txt")) ? File.ReadAllText(Temp("com1.txt")) : "";
        HostTool.Check(x.Display, "xdotool", "windowmove", "--sync", window, "0", "0");
        WaitFor(() => Com1().Contains("MOUSE-READY\r\nFA "), vm, "the guest to enable the mouse");

        // The first click grabs the mouse (the title says how to let go) and is not the guest's.
        HostTool.Check(x.Display, "xdotool", "mousemove", "--sync", "300", "200", "click", "1");
        WaitFor(() => Title().Contains("Ctrl+Alt+G releases the mouse"), vm, "the grab in the title");
        // Entering relative mode SDL moves the pointer to the window's centre, which arrives as one motion: count from
        // after it.
        Thread.Sleep(1500);
        int grabbed = Packets(Com1()).Count;
        (int Dx, int Dy) Moved() => Sum(Packets(Com1()).Skip(grabbed).ToList());
        for (int i = 0; i < 5; i++)
        {
            HostTool.Check(x.Display, "xdotool", "mousemove_relative", "--", "20", "0");
            Thread.Sleep(100);
        }
        WaitFor(() => Moved().Dx >= 50, vm, "rightward motion in the guest's packets");
        for (int i = 0; i < 5; i++)
        {
            HostTool.Check(x.Display, "xdotool", "mousemove_relative", "--", "0", "20");
            Thread.Sleep(100);
        }
        WaitFor(() => Moved().Dy <= -50, vm, "downward motion (negative PS/2 y) in the guest's packets");
        HostTool.Check(x.Display, "xdotool", "mousedown", "3");
        WaitFor(() => Packets(Com1()).Any(p => (p[0] & 2) != 0), vm, "the right button in a packet");
        HostTool.Check(x.Display, "xdotool", "mouseup", "3");

        // Ctrl+Alt+G lets go (the guest sees the buttons up): motion no longer reaches the guest.
        HostTool.Check(x.Display, "xdotool", "key", "ctrl+alt+g");
        WaitFor(() => Title().Contains("click or Ctrl+Alt+G grabs the mouse"), vm, "the release in the title");
        int released = Packets(Com1()).Count;
        HostTool.Check(x.Display, "xdotool", "mousemove", "--sync", "100", "100");
        Thread.Sleep(2000);
        Assert.Equal((0, 0), Sum(Packets(Com1()).Skip(released).ToList()));
        // Every packet is well formed: bit 3 of the first byte is always set.
        Assert.All(Packets(Com1()), p => Assert.True((p[0] & 8) != 0, $"bad packet {p[0]:X2} {p[1]:X2} {p[2]:X2}"));
        vm.Interrupt();
        Assert.Equal(0, vm.WaitForExit(TimeSpan.FromMinutes(1)).ExitCode);
    }

    /// <summary>The 3-byte packets the guest printed after the mouse's acknowledgement of "enable reporting".</summary>
    private static List<byte[]> Packets(string com1)
    {
        int start = com1.IndexOf("MOUSE-READY\r\nFA ", StringComparison.Ordinal);
        if (start < 0) return [];
        var bytes = com1[(start + "MOUSE-READY\r\nFA ".Length)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(t => t.Length == 2).Select(t => Convert.ToByte(t, 16)).ToList();
        var packets = new List<byte[]>();
        for (int i = 0; i + 3 <= bytes.Count; i += 3) packets.Add([bytes[i], bytes[i + 1], bytes[i + 2]]);
        return packets;
    }

    /// <summary>Total motion in PS/2 terms: the sign bits are bits 4 (x) and 5 (y) of the first byte; y points up.</summary>
    private static (int Dx, int Dy) Sum(List<byte[]> packets)
    {
        int dx = 0, dy = 0;
        foreach (var p in packets)
        {
            dx += (p[0] & 0x10) != 0 ? p[1] - 256 : p[1];
            dy += (p[0] & 0x20) != 0 ? p[2] - 256 : p[2];
        }
        return (dx, dy);
    }

    [Fact]
    public void WithoutADisplayTheRunFallsBackToHeadlessWithOneLine()
    {
        File.Copy(MiniVmChild.Guest("freedos722.img"), Temp("fd.img"));
        using var vm = new MiniVmChild(_dir, new Dictionary<string, string?> { ["DISPLAY"] = null, ["WAYLAND_DISPLAY"] = null, ["SDL_VIDEODRIVER"] = null },
            // format=raw: a probed raw floppy would add the probing warning to the one line this test counts.
            "run", "--display", "sdl", "--drive", $"if=floppy,index=0,format=raw,file={Temp("fd.img")}", "--serial", "none", "--until", @"A:\>", "--timeout", "200");
        var r = vm.WaitForExit(TimeSpan.FromMinutes(4));
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}");
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("minivm: no display for the SDL window: neither DISPLAY nor WAYLAND_DISPLAY is set; running headless", lines[0]);
        Assert.StartsWith(@"minivm: 'A:\>' appeared", lines[1]);
        Assert.Equal(2, lines.Length);
    }

    private static int CountOf(string text, string s)
    {
        int n = 0;
        for (int i = text.IndexOf(s, StringComparison.Ordinal); i >= 0; i = text.IndexOf(s, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    private static string WaitForWindow(string display, MiniVmChild vm)
    {
        string id = "";
        WaitFor(() =>
        {
            var r = HostTool.Run(display, "xdotool", "search", "--name", "^MiniVM");
            id = r.ExitCode == 0 ? r.Text.Split('\n')[0] : "";
            return id.Length > 0;
        }, vm, "the MiniVM window");
        return id;
    }

    private static PpmImage WaitForScreen(string display, string window, MiniVmChild vm, Func<PpmImage, bool> done, string what)
    {
        PpmImage? shot = null;
        WaitFor(() => done(shot = Capture(display, window)), vm, what);
        return shot!;
    }

    private static void WaitFor(Func<bool> condition, MiniVmChild vm, string what)
    {
        var wall = Stopwatch.StartNew();
        while (!condition())
        {
            if (vm.HasExited) throw new Xunit.Sdk.XunitException($"minivm exited while waiting for {what}: {vm.WaitForExit(TimeSpan.FromSeconds(5)).Stderr}");
            if (wall.Elapsed > TimeSpan.FromMinutes(3)) throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
            Thread.Sleep(300);
        }
    }

    /// <summary>The window's pixels as the X server has them.</summary>
    private static PpmImage Capture(string display, string window) =>
        PpmImage.Parse(HostTool.Check(display, "import", "-window", window, "-depth", "8", "ppm:-").Stdout);

    private static PpmImage ReadPng(string path) => PpmImage.Parse(HostTool.Check(null, "convert", path, "-depth", "8", "ppm:-").Stdout);

    /// <summary>ARGB pixels as a PPM image, to compare with window captures.</summary>
    private static PpmImage Frame(ReadOnlySpan<uint> pixels, int width, int height)
    {
        var bytes = new List<byte>(System.Text.Encoding.ASCII.GetBytes($"P6\n{width} {height}\n255\n"));
        foreach (uint p in pixels[..(width * height)]) { bytes.Add((byte)(p >> 16)); bytes.Add((byte)(p >> 8)); bytes.Add((byte)p); }
        return PpmImage.Parse(bytes.ToArray());
    }

    /// <summary>A window capture brought back to frame size by sampling each frame pixel's centre (the inverse of the window's scaling).</summary>
    private static PpmImage Downscaled(PpmImage window, int frameWidth, int frameHeight)
    {
        var fit = ScreenFit.Into(frameWidth, frameHeight, window.Width, window.Height);
        var bytes = new List<byte>(System.Text.Encoding.ASCII.GetBytes($"P6\n{frameWidth} {frameHeight}\n255\n"));
        for (int y = 0; y < frameHeight; y++)
            for (int x = 0; x < frameWidth; x++)
            {
                int p = window[fit.X + (int)((x + 0.5) * fit.Width / frameWidth), fit.Y + (int)((y + 0.5) * fit.Height / frameHeight)];
                bytes.Add((byte)(p >> 16)); bytes.Add((byte)(p >> 8)); bytes.Add((byte)p);
            }
        return PpmImage.Parse(bytes.ToArray());
    }

    /// <summary>
    /// Share of the frame's pixels whose colour is not what the window shows at that pixel's place (each channel
    /// within 48 of 255 counts as the same colour: scaling may blend, VGA text colours are far apart).
    /// </summary>
    private static double Mismatch(PpmImage window, PpmImage frame)
    {
        var fit = ScreenFit.Into(frame.Width, frame.Height, window.Width, window.Height);
        if (fit.Width == 0) return 1;
        int bad = 0;
        for (int y = 0; y < frame.Height; y++)
        {
            int wy = fit.Y + (int)((y + 0.5) * fit.Height / frame.Height);
            for (int x = 0; x < frame.Width; x++)
            {
                int wx = fit.X + (int)((x + 0.5) * fit.Width / frame.Width);
                int a = window[wx, wy], b = frame[x, y];
                if (Math.Abs((a >> 16) - (b >> 16)) > 48 || Math.Abs(((a >> 8) & 0xFF) - ((b >> 8) & 0xFF)) > 48 || Math.Abs((a & 0xFF) - (b & 0xFF)) > 48) bad++;
            }
        }
        return (double)bad / (frame.Width * frame.Height);
    }
}
