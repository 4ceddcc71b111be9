namespace MiniVM.Display.Sdl;

/// <summary>No window can be opened here: no X/Wayland display, SDL's video init failed, or libSDL2 is missing.</summary>
public sealed class DisplayUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
