using MiniVM.Devices;

namespace MiniVM.Display.Sdl;

/// <summary>What the window tells its owner, in PC terms (SDL's event union stays inside <see cref="SdlWindow"/>).</summary>
public enum WindowInputKind
{
    KeyDown,
    KeyUp,
    /// <summary>The window lost the keyboard: keys held now will never report their release.</summary>
    FocusLost,
    /// <summary>The user closed the window.</summary>
    CloseRequested,
    /// <summary>The mouse moved by (<see cref="WindowInput.Dx"/>, <see cref="WindowInput.Dy"/>) window pixels, y downwards.</summary>
    MouseMotion,
    /// <summary>A mouse button went down or up: <see cref="WindowInput.Buttons"/> is the new state.</summary>
    MouseButton,
}

/// <param name="Key">The PC key for key events (host keys a PC keyboard lacks are not reported).</param>
/// <param name="CtrlAlt">Both a Ctrl and an Alt key were held: the window's own shortcuts (Ctrl+Alt+2).</param>
/// <param name="Dx">Mouse motion: right is positive.</param>
/// <param name="Dy">Mouse motion: down is positive (window coordinates).</param>
/// <param name="Buttons">Mouse buttons held after the event: bit 0 left, 1 right, 2 middle (the PS/2 packet's order).</param>
public readonly record struct WindowInput(WindowInputKind Kind, PcKey Key = default, bool CtrlAlt = false, int Dx = 0, int Dy = 0, int Buttons = 0);
