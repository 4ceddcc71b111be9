using System.Runtime.InteropServices;

namespace MiniVM.Display.Sdl.Tests;

/// <summary>The binding reads SDL_Event by offset: the offsets of SDL 2.0's SDL_events.h, checked byte by byte.</summary>
public sealed class SdlEventLayoutTests
{
    [Fact]
    public void EventIsSdlsFiftySixByteUnion() => Assert.Equal(56, Marshal.SizeOf<SdlNative.Event>());

    [Fact]
    public void KeyboardEventFieldsSitWhereSdlWritesThem()
    {
        // An SDL_KeyboardEvent as libSDL2 fills it: KEYDOWN, timestamp, window 1, pressed, repeat,
        // keysym { scancode SDL_SCANCODE_A (4), sym 'a', mod KMOD_LCTRL|KMOD_LALT }.
        var bytes = new byte[56];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), 0x300u);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), 12345u);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), 1u);
        bytes[12] = 1;
        bytes[13] = 1;
        BitConverter.TryWriteBytes(bytes.AsSpan(16), 4);
        BitConverter.TryWriteBytes(bytes.AsSpan(20), (int)'a');
        BitConverter.TryWriteBytes(bytes.AsSpan(24), (ushort)0x0140);
        var e = MemoryMarshal.Read<SdlNative.Event>(bytes);
        Assert.Equal(SdlNative.EventKeyDown, e.Type);
        Assert.Equal(1, e.KeyRepeat);
        Assert.Equal(4, e.KeyScancode);
        Assert.Equal(SdlNative.KeyModLeftCtrl | SdlNative.KeyModLeftAlt, e.KeyMod);
    }

    [Fact]
    public void WindowEventIdSitsAfterTheWindowId()
    {
        // SDL_WindowEvent: type, timestamp, windowID, event (Uint8) at offset 12.
        var bytes = new byte[56];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), 0x200u);
        bytes[12] = SdlNative.WindowEventFocusLost;
        var e = MemoryMarshal.Read<SdlNative.Event>(bytes);
        Assert.Equal(SdlNative.EventWindow, e.Type);
        Assert.Equal(SdlNative.WindowEventFocusLost, e.WindowEventId);
    }
}
