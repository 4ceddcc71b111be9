using System.Globalization;
using MiniVM.Drawing;
using SkiaSharp;

namespace MiniVM.Cli;

/// <summary>
/// `img map --png/--svg`: an <see cref="AllocationMap"/> as a picture that reads on its own. A grid of cells (one per
/// cluster, or per power-of-two group of clusters on large images) whose columns and cell size adapt to the cell count;
/// each row starts with its guest offset in KiB/MiB/GiB; a scale line under the grid says what one row and one cell
/// cover; a legend lists only what the picture shows. Marks: data owned by the state being mapped (the current state,
/// or the top layer) is a solid cell in the owner's colour; data owned by an ancestor (an earlier iROW state or a
/// backing layer) has a white diagonal through its colour; explicit zeroes are grey; unallocated cells are hollow.
/// </summary>
internal static class MapPicture
{
    /// <summary>Cells in the largest picture: 128 columns × 64 rows.</summary>
    public const int MaxCells = 128 * 64;

    public static readonly SKColor TextColour = new(0x20, 0x20, 0x20);
    public static readonly SKColor ZeroColour = new(0xA8, 0xA8, 0xA8);
    public static readonly SKColor HollowColour = new(0xC0, 0xC0, 0xC0);
    public static readonly SKColor AxisColour = new(0x60, 0x60, 0x60);

    private const float Margin = 12, TitleSize = 15, TextSize = 12, LabelSize = 11, LineHeight = 18;

    /// <summary>Distinct, saturated colours that read well next to grey and white; later owners get generated hues.</summary>
    private static readonly uint[] Palette =
    [
        0xFF1F77B4, 0xFFFF7F0E, 0xFF2CA02C, 0xFFD62728, 0xFF9467BD, 0xFF8C564B,
        0xFFE377C2, 0xFF17BECF, 0xFFBCBD22, 0xFF393B79, 0xFF7B4173, 0xFF637939,
    ];

    /// <summary>Where the grid sits, so tests and the explorer page agree with the drawing.</summary>
    public sealed record Layout(int Columns, int Rows, int CellPx, float GridLeft, float GridTop);

    public static Layout GridOf(int cells, float gridLeft, float gridTop)
    {
        int columns = 16;
        while (columns < 128 && columns * columns < cells * 2) columns *= 2;
        columns = Math.Min(columns, Math.Max(1, cells));
        int rows = (cells + columns - 1) / columns;
        int cellPx = Math.Clamp(640 / columns, 8, 20);
        return new Layout(columns, rows, cellPx, gridLeft, gridTop);
    }

    /// <summary>The picture of <paramref name="map"/> with its owners' names and colours.</summary>
    public static Picture Draw(AllocationMap map, MapOwners owners, string title)
    {
        var probe = GridOf(map.CellCount, 0, 0);
        long rowBytes = map.CellBytes * probe.Columns;
        int labelEvery = 1;
        while (probe.Rows / labelEvery > 32) labelEvery *= 2;
        float labelWidth = 0;
        for (int r = 0; r < probe.Rows; r += labelEvery)
            labelWidth = Math.Max(labelWidth, Ink.Width(Offset(r * rowBytes), LabelSize));

        string scale = string.Create(CultureInfo.InvariantCulture,
            $"one cell = {Offset(map.CellBytes)}{(map.CellBytes == map.ClusterSize ? " (one cluster)" : $" ({map.CellBytes / map.ClusterSize} clusters of {Offset(map.ClusterSize)}, largest data owner shown)")}; one row = {Offset(rowBytes)}");

        var legend = new List<(string Text, Action<SKCanvas, float, float, float> Swatch)>();
        string Count(long bytes)
        {
            long n = (bytes + map.ClusterSize - 1) / map.ClusterSize;
            return string.Create(CultureInfo.InvariantCulture, $"{n} cluster{(n == 1 ? "" : "s")} ({QemuSize.Format(bytes)})");
        }
        // Bottom layer first, as the chain reads from the top down to it; inside a layer in MapOwners' order.
        foreach (int owner in Enumerable.Range(0, owners.Labels.Count).OrderByDescending(map.DepthOf).ThenBy(i => i))
        {
            if (map.OwnerBytes[owner] <= 0) continue;
            bool own = map.IsThisState(owner);
            legend.Add(($"{owners.Labels[owner]}, {(own ? "this state" : "ancestor")}: {Count(map.OwnerBytes[owner])}",
                (c, x, y, s) => DataCell(c, x, y, s, OwnerColour(owners.ColourOf(owner)), own)));
        }
        if (map.ZeroBytes > 0) legend.Add(($"zero (reads as zeroes, no data stored): {Count(map.ZeroBytes)}", ZeroCell));
        if (map.UnallocatedBytes > 0) legend.Add(($"unallocated: {Count(map.UnallocatedBytes)}", HollowCell));

        float gridLeft = Margin + labelWidth + 8;
        float gridTop = Margin + LineHeight + LineHeight + 8;
        var grid = GridOf(map.CellCount, gridLeft, gridTop);
        float gridWidth = grid.Columns * grid.CellPx, gridHeight = grid.Rows * grid.CellPx;
        float scaleTop = gridTop + gridHeight + 10;
        float legendTop = scaleTop + 30;
        float textWidth = Math.Max(Ink.Width(title, TitleSize), Ink.Width(scale, TextSize));
        foreach (var (t, _) in legend) textWidth = Math.Max(textWidth, 22 + Ink.Width(t, TextSize));
        int width = (int)Math.Ceiling(Math.Max(gridLeft + gridWidth, Margin + textWidth) + Margin);
        int height = (int)Math.Ceiling(legendTop + legend.Count * LineHeight + Margin);

        return new Picture(width, height, c =>
        {
            Ink.Text(c, title, Margin, Margin, TitleSize, TextColour, bold: true);
            Ink.Text(c, scale, Margin, Margin + LineHeight + 2, TextSize, TextColour);
            for (int r = 0; r < grid.Rows; r += labelEvery)
                Ink.Text(c, Offset(r * rowBytes), gridLeft - 6, gridTop + r * grid.CellPx + (grid.CellPx - LabelSize) / 2 - 1,
                    LabelSize, AxisColour, SKTextAlign.Right);
            for (int i = 0; i < map.CellCount; i++)
            {
                float x = gridLeft + i % grid.Columns * grid.CellPx, y = gridTop + i / grid.Columns * grid.CellPx;
                int who = map.Owners[i];
                if (who >= 0) DataCell(c, x, y, grid.CellPx - 1, OwnerColour(owners.ColourOf(who)), map.IsThisState(who));
                else if (who == AllocationMap.Zero) ZeroCell(c, x, y, grid.CellPx - 1);
                else HollowCell(c, x, y, grid.CellPx - 1);
            }
            // The scale line: one row's span, with its ends marked.
            float mid = scaleTop + 4;
            Ink.Line(c, gridLeft, mid, gridLeft + gridWidth - 1, mid, AxisColour);
            Ink.Line(c, gridLeft, mid - 4, gridLeft, mid + 4, AxisColour);
            Ink.Line(c, gridLeft + gridWidth - 1, mid - 4, gridLeft + gridWidth - 1, mid + 4, AxisColour);
            Ink.Text(c, $"{Offset(rowBytes)} per row", gridLeft + gridWidth / 2, mid + 4, LabelSize, AxisColour, SKTextAlign.Center);
            for (int i = 0; i < legend.Count; i++)
            {
                float y = legendTop + i * LineHeight;
                legend[i].Swatch(c, Margin, y + 1, 13);
                Ink.Text(c, legend[i].Text, Margin + 22, y, TextSize, TextColour);
            }
        });
    }

    /// <summary>Solid for the mapped state's own data; an ancestor's has a white diagonal (bottom-left to top-right).</summary>
    public static void DataCell(SKCanvas c, float x, float y, float size, SKColor colour, bool own)
    {
        Ink.Fill(c, x, y, size, size, colour);
        if (!own)
        {
            using var paint = new SKPaint { Color = SKColors.White, StrokeWidth = Math.Max(2, size / 5), IsAntialias = false };
            c.DrawLine(x, y + size, x + size, y, paint);
        }
    }

    public static void ZeroCell(SKCanvas c, float x, float y, float size) => Ink.Fill(c, x, y, size, size, ZeroColour);

    public static void HollowCell(SKCanvas c, float x, float y, float size) => Ink.Stroke(c, x, y, size, size, HollowColour);

    /// <summary>A guest offset in the largest binary unit it reaches: "0", "512 KiB", "1.5 GiB".</summary>
    public static string Offset(long bytes)
    {
        if (bytes == 0) return "0";
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        int u = 0;
        while (u < units.Length - 1 && bytes >= 1L << (10 * (u + 1))) u++;
        double v = bytes / (double)(1L << (10 * u));
        return v.ToString(v == Math.Floor(v) ? "0" : "0.###", CultureInfo.InvariantCulture) + " " + units[u];
    }

    /// <summary>The colour of owner colour number <paramref name="index"/>: the palette, then hues spaced by the golden angle.</summary>
    public static SKColor OwnerColour(int index)
    {
        if (index < Palette.Length) return new SKColor(Palette[index]);
        double h = (index - Palette.Length) * 137.508 % 360 / 60;
        double x = 1 - Math.Abs(h % 2 - 1);
        (double r, double g, double b) = (int)h switch
        {
            0 => (1d, x, 0d), 1 => (x, 1d, 0d), 2 => (0d, 1d, x), 3 => (0d, x, 1d), 4 => (x, 0d, 1d), _ => (1d, 0d, x),
        };
        byte C(double v) => (byte)(40 + v * 170);
        return new SKColor(C(r), C(g), C(b));
    }

    /// <summary>"#1f77b4", for the explorer page.</summary>
    public static string Css(SKColor c) => $"#{c.Red:x2}{c.Green:x2}{c.Blue:x2}";
}
