using SkiaSharp;

namespace MiniVM.Drawing;

/// <summary>
/// The one font every picture uses, read from a font file so pictures look the same on every machine that has it
/// (the native library is built without fontconfig). Debian's fonts-dejavu-core ships DejaVu Sans; Liberation Sans
/// (fonts-liberation) is the second choice; MINIVM_FONT names any other TrueType file.
/// </summary>
public static class Typefaces
{
    private static readonly string[] Candidates =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    ];

    private static readonly Lazy<SKTypeface> Loaded = new(Load);

    /// <summary>The sans-serif face; throws IOException (one line naming what to install) when none is found.</summary>
    public static SKTypeface Sans => Loaded.Value;

    private static SKTypeface Load()
    {
        string? chosen = Environment.GetEnvironmentVariable("MINIVM_FONT");
        if (!string.IsNullOrEmpty(chosen))
            return SKTypeface.FromFile(chosen)
                ?? throw new IOException($"MINIVM_FONT={chosen}: not a font file Skia can read");
        foreach (var path in Candidates)
            if (File.Exists(path) && SKTypeface.FromFile(path) is { } face) return face;
        throw new IOException(
            "no font to draw text with: install DejaVu Sans (Debian: apt-get install fonts-dejavu-core) or set MINIVM_FONT to a .ttf file");
    }
}
