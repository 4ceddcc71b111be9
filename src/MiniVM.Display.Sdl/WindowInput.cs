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
}

/// <param name="Key">The PC key for key events (host keys a PC keyboard lacks are not reported).</param>
/// <param name="CtrlAlt">Both a Ctrl and an Alt key were held: the window's own shortcuts (Ctrl+Alt+2).</param>
public readonly record struct WindowInput(WindowInputKind Kind, PcKey Key = default, bool CtrlAlt = false);
