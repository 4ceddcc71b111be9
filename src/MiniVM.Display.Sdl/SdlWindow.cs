using MiniVM.Devices.Vga;

namespace MiniVM.Display.Sdl;

/// <summary>
/// One resizable SDL2 window that shows guest frames, scaled to fit with the monitor's aspect
/// (<see cref="ScreenFit"/>), and reports key presses. All calls must come from the thread that opened it.
/// </summary>
public sealed unsafe class SdlWindow : IDisposable
{
    private nint _window, _renderer, _texture;
    private int _textureWidth, _textureHeight;
    private string _title;
    private int _buttons;
    private bool _fullscreen;

    private SdlWindow(nint window, nint renderer, string title)
    {
        _window = window;
        _renderer = renderer;
        _title = title;
    }

    /// <summary>The SDL video driver in use (x11, wayland, ...).</summary>
    public string VideoDriver => SdlNative.CurrentVideoDriver();

    /// <summary>Opens the window or explains, in one line, why there is no display here.</summary>
    /// <exception cref="DisplayUnavailableException">no display, SDL video init failed, or libSDL2 is not installed</exception>
    public static SdlWindow Open(string title, int width, int height)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsFreeBSD())
            throw new DisplayUnavailableException("the SDL display is bound to libSDL2-2.0.so.0 (Linux)");
        // Without a display SDL falls back to its "offscreen" driver (a window nobody sees) after libwayland has
        // printed its own complaint: offer SDL only the display systems this session has. SDL_VIDEODRIVER still
        // lets a user pick any driver on purpose.
        string? drivers = null;
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("SDL_VIDEODRIVER")))
        {
            bool x11 = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DISPLAY"));
            bool wayland = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("WAYLAND_DISPLAY"));
            if (!x11 && !wayland) throw new DisplayUnavailableException("neither DISPLAY nor WAYLAND_DISPLAY is set");
            drivers = x11 && wayland ? "x11,wayland" : x11 ? "x11" : "wayland";
        }
        try
        {
            // .NET owns SIGINT/SIGTERM (Ctrl+C stops the run cleanly); SDL must not turn them into quit events.
            SdlNative.SetHint("SDL_NO_SIGNAL_HANDLERS", "1");
            // Nearest-pixel scaling keeps glyph edges sharp (and the window's pixels comparable with the frame's).
            SdlNative.SetHint("SDL_RENDER_SCALE_QUALITY", "0");
            if (drivers is not null) SdlNative.SetHint("SDL_VIDEODRIVER", drivers);
            if (SdlNative.Init(SdlNative.InitVideo) != 0)
                throw new DisplayUnavailableException($"SDL cannot open a display ({SdlNative.GetError()})");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new DisplayUnavailableException("libSDL2-2.0.so.0 is not installed (Debian: apt-get install libsdl2-2.0-0)", e);
        }

        nint window = SdlNative.CreateWindow(title, SdlNative.WindowPosCentered, SdlNative.WindowPosCentered, width, height,
            SdlNative.WindowShown | SdlNative.WindowResizable | SdlNative.WindowAllowHighDpi);
        if (window == 0)
        {
            string why = SdlNative.GetError();
            SdlNative.Quit();
            throw new DisplayUnavailableException($"SDL cannot create a window ({why})");
        }
        // A GPU renderer when there is one; the software renderer always exists (Xvfb, plain X servers).
        nint renderer = SdlNative.CreateRenderer(window, -1, SdlNative.RendererAccelerated);
        if (renderer == 0) renderer = SdlNative.CreateRenderer(window, -1, SdlNative.RendererSoftware);
        if (renderer == 0)
        {
            string why = SdlNative.GetError();
            SdlNative.DestroyWindow(window);
            SdlNative.Quit();
            throw new DisplayUnavailableException($"SDL cannot create a renderer ({why})");
        }
        return new SdlWindow(window, renderer, title);
    }

    public string Title
    {
        get => _title;
        set
        {
            if (value == _title) return;
            _title = value;
            SdlNative.SetWindowTitle(_window, value);
        }
    }

    /// <summary>Draws <paramref name="frame"/> scaled into the window, black bars around it.</summary>
    public void Present(Framebuffer frame) => Present(frame.Pixels, frame.Width, frame.Height);

    /// <summary>Draws <paramref name="w"/> × <paramref name="h"/> ARGB pixels scaled into the window, black bars around them.</summary>
    public void Present(ReadOnlySpan<uint> pixels, int w, int h)
    {
        ObjectDisposedException.ThrowIf(_window == 0, this);
        if (pixels.Length < w * h) throw new ArgumentException($"{pixels.Length} pixels cannot fill {w}x{h}", nameof(pixels));
        SdlNative.SetRenderDrawColor(_renderer, 0, 0, 0, 255);
        SdlNative.RenderClear(_renderer);
        if (w > 0 && h > 0)
        {
            if (_texture == 0 || w != _textureWidth || h != _textureHeight)
            {
                if (_texture != 0) SdlNative.DestroyTexture(_texture);
                _texture = SdlNative.CreateTexture(_renderer, SdlNative.PixelFormatArgb8888, SdlNative.TextureAccessStreaming, w, h);
                _textureWidth = w;
                _textureHeight = h;
            }
            if (_texture != 0)
            {
                fixed (uint* p = pixels) SdlNative.UpdateTexture(_texture, null, p, w * 4);
                SdlNative.GetRendererOutputSize(_renderer, out int ww, out int wh);
                var fit = ScreenFit.Into(w, h, ww, wh);
                var dst = new SdlNative.Rect { X = fit.X, Y = fit.Y, W = fit.Width, H = fit.Height };
                SdlNative.RenderCopy(_renderer, _texture, null, &dst);
            }
        }
        SdlNative.RenderPresent(_renderer);
    }

    /// <summary>The next input of interest, if any is waiting; other SDL events are consumed and skipped.</summary>
    public bool TryReadInput(out WindowInput input)
    {
        while (SdlNative.PollEvent(out var e) != 0)
        {
            switch (e.Type)
            {
                case SdlNative.EventQuit:
                    input = new(WindowInputKind.CloseRequested);
                    return true;
                case SdlNative.EventWindow when e.WindowEventId == SdlNative.WindowEventFocusLost:
                    input = new(WindowInputKind.FocusLost);
                    return true;
                case SdlNative.EventMouseMotion:
                    input = new(WindowInputKind.MouseMotion, Dx: e.MotionXRel, Dy: e.MotionYRel, Buttons: _buttons);
                    return true;
                case SdlNative.EventMouseButtonDown or SdlNative.EventMouseButtonUp:
                    int bit = e.MouseButton switch { SdlNative.ButtonLeft => 1, SdlNative.ButtonRight => 2, SdlNative.ButtonMiddle => 4, _ => 0 };
                    if (bit == 0) continue;
                    _buttons = e.Type == SdlNative.EventMouseButtonDown ? _buttons | bit : _buttons & ~bit;
                    input = new(WindowInputKind.MouseButton, Buttons: _buttons);
                    return true;
                case SdlNative.EventKeyDown or SdlNative.EventKeyUp:
                    if (!HidKeyMap.TryMap(e.KeyScancode, out var key)) continue;
                    bool ctrlAlt = (e.KeyMod & (SdlNative.KeyModLeftCtrl | SdlNative.KeyModRightCtrl)) != 0
                        && (e.KeyMod & (SdlNative.KeyModLeftAlt | SdlNative.KeyModRightAlt)) != 0;
                    // Held keys repeat as further presses: the typematic repeat a PS/2 keyboard sends itself.
                    input = new(e.Type == SdlNative.EventKeyDown ? WindowInputKind.KeyDown : WindowInputKind.KeyUp, key, ctrlAlt);
                    return true;
            }
        }
        input = default;
        return false;
    }

    /// <summary>
    /// Whether the window holds the mouse: the pointer is hidden and confined, and motion arrives as relative
    /// movement however far it goes (SDL's relative mouse mode), as a PS/2 mouse reports it.
    /// </summary>
    public bool MouseGrabbed
    {
        get;
        set
        {
            if (value == field) return;
            field = value;
            // Relative mode also confines the pointer; where it is unavailable the window grab keeps motion inside.
            if (SdlNative.SetRelativeMouseMode(value ? 1 : 0) != 0) SdlNative.SetWindowGrab(_window, value ? 1 : 0);
        }
    }

    /// <summary>Fullscreen at the desktop's resolution (the frame is scaled to fit, as in a window).</summary>
    public bool Fullscreen
    {
        get => _fullscreen;
        set
        {
            if (value == _fullscreen) return;
            if (SdlNative.SetWindowFullscreen(_window, value ? SdlNative.WindowFullscreenDesktop : 0) == 0) _fullscreen = value;
        }
    }

    public void Dispose()
    {
        if (_window == 0) return;
        if (_texture != 0) SdlNative.DestroyTexture(_texture);
        SdlNative.DestroyRenderer(_renderer);
        SdlNative.DestroyWindow(_window);
        SdlNative.Quit();
        _texture = _renderer = _window = 0;
    }
}
