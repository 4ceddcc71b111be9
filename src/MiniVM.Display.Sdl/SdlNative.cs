using System.Runtime.InteropServices;

namespace MiniVM.Display.Sdl;

/// <summary>
/// The whole of our SDL2 binding: the few calls the window makes into Debian's libsdl2-2.0-0, nothing else.
/// Kept in one file with SDL's own names so that it can be swapped for Silk.NET.SDL without touching the window.
/// Signatures follow SDL 2.0's SDL_video.h, SDL_render.h and SDL_events.h.
/// </summary>
internal static unsafe partial class SdlNative
{
    private const string Library = "libSDL2-2.0.so.0";

    public const uint InitVideo = 0x0000_0020;

    public const uint WindowShown = 0x0000_0004, WindowResizable = 0x0000_0020, WindowAllowHighDpi = 0x0000_2000;
    public const int WindowPosCentered = 0x2FFF_0000;

    public const uint RendererSoftware = 0x1, RendererAccelerated = 0x2, RendererPresentVsync = 0x4;

    /// <summary>SDL_PIXELFORMAT_ARGB8888: a 32-bit word 0xAARRGGBB, the layout of our Framebuffer.</summary>
    public const uint PixelFormatArgb8888 = 0x1636_2004;
    public const int TextureAccessStreaming = 1;

    public const uint EventQuit = 0x100, EventWindow = 0x200, EventKeyDown = 0x300, EventKeyUp = 0x301;
    public const uint EventMouseMotion = 0x400, EventMouseButtonDown = 0x401, EventMouseButtonUp = 0x402;
    /// <summary>SDL_BUTTON_LEFT, _MIDDLE, _RIGHT.</summary>
    public const byte ButtonLeft = 1, ButtonMiddle = 2, ButtonRight = 3;
    public const uint WindowFullscreenDesktop = 0x0000_1001;
    public const byte WindowEventFocusLost = 13, WindowEventClose = 14;

    public const ushort KeyModLeftCtrl = 0x0040, KeyModRightCtrl = 0x0080, KeyModLeftAlt = 0x0100, KeyModRightAlt = 0x0200;

    /// <summary>
    /// SDL_Event is a 56-byte union; we read only the common type, the window event id and the keyboard event's
    /// repeat flag, keysym.scancode and keysym.mod (SDL_KeyboardEvent: type, timestamp, windowID, state, repeat,
    /// padding2, padding3, then SDL_Keysym { scancode, sym, mod, unused } at offset 16).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 56)]
    public struct Event
    {
        [FieldOffset(0)] public uint Type;
        [FieldOffset(12)] public byte WindowEventId;
        [FieldOffset(13)] public byte KeyRepeat;
        [FieldOffset(16)] public int KeyScancode;
        [FieldOffset(24)] public ushort KeyMod;
        /// <summary>SDL_MouseButtonEvent.button (offset 16, after type, timestamp, windowID, which).</summary>
        [FieldOffset(16)] public byte MouseButton;
        /// <summary>SDL_MouseMotionEvent.xrel / yrel (after which, state, x, y).</summary>
        [FieldOffset(28)] public int MotionXRel;
        [FieldOffset(32)] public int MotionYRel;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Rect
    {
        public int X, Y, W, H;
    }

    [LibraryImport(Library, EntryPoint = "SDL_SetHint", StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.I4)]
    public static partial bool SetHint(string name, string value);

    [LibraryImport(Library, EntryPoint = "SDL_Init")]
    public static partial int Init(uint flags);

    [LibraryImport(Library, EntryPoint = "SDL_Quit")]
    public static partial void Quit();

    [LibraryImport(Library, EntryPoint = "SDL_GetError")]
    private static partial nint GetErrorPointer();

    /// <summary>SDL's last error text (UTF-8, owned by SDL).</summary>
    public static string GetError() => Marshal.PtrToStringUTF8(GetErrorPointer()) ?? "";

    [LibraryImport(Library, EntryPoint = "SDL_GetCurrentVideoDriver")]
    private static partial nint GetCurrentVideoDriverPointer();

    public static string CurrentVideoDriver() => Marshal.PtrToStringUTF8(GetCurrentVideoDriverPointer()) ?? "";

    [LibraryImport(Library, EntryPoint = "SDL_CreateWindow", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint CreateWindow(string title, int x, int y, int w, int h, uint flags);

    [LibraryImport(Library, EntryPoint = "SDL_DestroyWindow")]
    public static partial void DestroyWindow(nint window);

    [LibraryImport(Library, EntryPoint = "SDL_SetWindowTitle", StringMarshalling = StringMarshalling.Utf8)]
    public static partial void SetWindowTitle(nint window, string title);

    [LibraryImport(Library, EntryPoint = "SDL_CreateRenderer")]
    public static partial nint CreateRenderer(nint window, int index, uint flags);

    [LibraryImport(Library, EntryPoint = "SDL_DestroyRenderer")]
    public static partial void DestroyRenderer(nint renderer);

    [LibraryImport(Library, EntryPoint = "SDL_GetRendererOutputSize")]
    public static partial int GetRendererOutputSize(nint renderer, out int w, out int h);

    [LibraryImport(Library, EntryPoint = "SDL_SetRenderDrawColor")]
    public static partial int SetRenderDrawColor(nint renderer, byte r, byte g, byte b, byte a);

    [LibraryImport(Library, EntryPoint = "SDL_RenderClear")]
    public static partial int RenderClear(nint renderer);

    [LibraryImport(Library, EntryPoint = "SDL_CreateTexture")]
    public static partial nint CreateTexture(nint renderer, uint format, int access, int w, int h);

    [LibraryImport(Library, EntryPoint = "SDL_DestroyTexture")]
    public static partial void DestroyTexture(nint texture);

    [LibraryImport(Library, EntryPoint = "SDL_UpdateTexture")]
    public static partial int UpdateTexture(nint texture, Rect* rect, void* pixels, int pitch);

    [LibraryImport(Library, EntryPoint = "SDL_RenderCopy")]
    public static partial int RenderCopy(nint renderer, nint texture, Rect* source, Rect* destination);

    [LibraryImport(Library, EntryPoint = "SDL_RenderPresent")]
    public static partial void RenderPresent(nint renderer);

    [LibraryImport(Library, EntryPoint = "SDL_SetRelativeMouseMode")]
    public static partial int SetRelativeMouseMode(int enabled);

    [LibraryImport(Library, EntryPoint = "SDL_SetWindowGrab")]
    public static partial void SetWindowGrab(nint window, int grabbed);

    [LibraryImport(Library, EntryPoint = "SDL_SetWindowFullscreen")]
    public static partial int SetWindowFullscreen(nint window, uint flags);

    [LibraryImport(Library, EntryPoint = "SDL_PollEvent")]
    public static partial int PollEvent(out Event e);
}
