using System.Globalization;
using System.Xml.Linq;

namespace MiniVM.Cli.Tests;

/// <summary>An SVG picture parsed as XML: its size, its text lines, and the map grid's cells in drawing order.</summary>
internal sealed class SvgPicture
{
    public static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    public int Width { get; }
    public int Height { get; }
    public List<string> Texts { get; } = [];
    /// <summary>The map's cells: every rect drawn after the background and before the scale line's text ("... per row").</summary>
    public List<(int X, int Y, int Size)> Cells { get; } = [];

    private SvgPicture(XDocument doc)
    {
        var root = doc.Root!;
        Assert.Equal(Svg + "svg", root.Name);
        Width = int.Parse(root.Attribute("width")!.Value, CultureInfo.InvariantCulture);
        Height = int.Parse(root.Attribute("height")!.Value, CultureInfo.InvariantCulture);
        bool inGrid = true, first = true;
        foreach (var e in root.Descendants())
        {
            if (e.Name == Svg + "text")
            {
                string t = e.Value.Trim();
                Texts.Add(t);
                if (t.EndsWith(" per row", StringComparison.Ordinal)) inGrid = false;
            }
            else if (e.Name == Svg + "rect" && inGrid)
            {
                if (first) { first = false; continue; } // the white background
                float x = F(e, "x"), y = F(e, "y"), w = F(e, "width");
                // A hollow cell is a 1-pixel stroke drawn half a pixel inside its box.
                bool stroked = e.Attribute("fill")?.Value == "none";
                Cells.Add(((int)MathF.Floor(x), (int)MathF.Floor(y), (int)MathF.Round(stroked ? w + 1 : w)));
            }
        }
    }

    private static float F(XElement e, string name) => float.Parse(e.Attribute(name)?.Value ?? "0", CultureInfo.InvariantCulture);

    public static SvgPicture Read(string path) => new(XDocument.Load(path));
}
