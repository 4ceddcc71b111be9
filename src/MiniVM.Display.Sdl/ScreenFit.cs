namespace MiniVM.Display.Sdl;

/// <summary>
/// Where a guest frame goes in the window: as large as fits, centred, with the aspect a monitor gives it. The
/// standard VGA modes below 480 lines (720×400 text, 320×200 mode 13h, 640×350, 640×200) have non-square pixels
/// and fill a 4:3 screen on a real monitor; 640×480 and VBE modes have square pixels and keep their own aspect.
/// </summary>
public readonly record struct ScreenFit(int X, int Y, int Width, int Height)
{
    /// <summary>The displayed aspect (width over height) of a <paramref name="width"/>×<paramref name="height"/> frame.</summary>
    public static double DisplayAspect(int width, int height) =>
        height < 480 && width * 3 > height * 4 ? 4.0 / 3.0 : (double)width / height;

    /// <summary>The window size that shows a frame at a whole-number scale near its natural size.</summary>
    public static (int Width, int Height) NaturalWindow(int frameWidth, int frameHeight)
    {
        double aspect = DisplayAspect(frameWidth, frameHeight);
        // Small modes (320×200) double so that they are readable; the height follows the displayed aspect.
        int w = frameWidth < 640 ? frameWidth * 2 : frameWidth;
        return (w, (int)Math.Round(w / aspect));
    }

    public static ScreenFit Into(int frameWidth, int frameHeight, int windowWidth, int windowHeight)
    {
        if (frameWidth <= 0 || frameHeight <= 0 || windowWidth <= 0 || windowHeight <= 0) return new(0, 0, 0, 0);
        double aspect = DisplayAspect(frameWidth, frameHeight);
        int w = windowWidth, h = (int)Math.Round(windowWidth / aspect);
        if (h > windowHeight) { h = windowHeight; w = (int)Math.Round(windowHeight * aspect); }
        w = Math.Clamp(w, 1, windowWidth);
        h = Math.Clamp(h, 1, windowHeight);
        return new((windowWidth - w) / 2, (windowHeight - h) / 2, w, h);
    }
}
