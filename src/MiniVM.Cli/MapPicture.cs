using System.Globalization;
using MiniVM.Block;
using MiniVM.Devices.Vga;

namespace MiniVM.Cli;

/// <summary>
/// `img map --png`: the allocation of an image as a picture, one cell per cluster (raw: per 64 KiB), wrapped into rows
/// of <see cref="Columns"/> cells, coloured by the owner that holds it (<see cref="MapOwners"/>); explicit zeroes grey,
/// unallocated ranges near-white. Below the grid a legend names every owner with its cluster count. Images with more
/// than <see cref="MaxCells"/> clusters merge neighbours into one cell (said in the picture) so it stays a sensible size.
/// </summary>
internal static class MapPicture
{
    public const int Columns = 128;
    public const int MaxCells = Columns * 256;
    public const long RawCellBytes = 64 * 1024;

    public const uint Background = 0xFFFFFFFF;
    public const uint TextColour = 0xFF202020;
    public const uint UnallocatedColour = 0xFFEDEDED;
    public const uint ZeroColour = 0xFFA8A8A8;

    private const int Margin = 10;
    private const int TextScale = 2;
    private const int LineHeight = BitmapFont.GlyphHeight * TextScale + 8;
    private const int MaxLineChars = 90;
    private const int Swatch = BitmapFont.GlyphHeight * TextScale;

    private const int UnallocatedCell = -2;
    private const int ZeroCell = -1;

    /// <summary>Distinct, saturated colours that read well next to grey and white; later owners get generated hues.</summary>
    private static readonly uint[] Palette =
    [
        0xFF1F77B4, 0xFFFF7F0E, 0xFF2CA02C, 0xFFD62728, 0xFF9467BD, 0xFF8C564B,
        0xFFE377C2, 0xFF17BECF, 0xFFBCBD22, 0xFF393B79, 0xFF7B4173, 0xFF637939,
    ];

    /// <summary>Walks the whole chain and writes the picture to <paramref name="output"/>.</summary>
    public static void Write(Stream output, ImageChain chain, MapOwners owners, string title)
    {
        long cluster = chain.Top is IImageInfo { ClusterSize: > 0 } info ? info.ClusterSize : RawCellBytes;
        long size = chain.Size;
        long clusters = (size + cluster - 1) / cluster;
        long perCell = Math.Max(1, (clusters + MaxCells - 1) / MaxCells);
        long cellBytes = cluster * perCell;
        int cells = (int)((size + cellBytes - 1) / cellBytes);

        var cellOwner = new int[cells];
        var ownerBytes = new List<long>();
        long zeroBytes = 0, unallocatedBytes = 0;
        var tally = new CellTally();
        for (long off = 0; off < size;)
        {
            var r = chain.Status(off, size - off);
            int who = r.Kind switch
            {
                ExtentKind.Data => owners.IndexOf(r.Depth, r.File),
                ExtentKind.Zero => ZeroCell,
                _ => UnallocatedCell,
            };
            if (who >= 0)
            {
                while (ownerBytes.Count <= who) ownerBytes.Add(0);
                ownerBytes[who] += r.Length;
            }
            else if (who == ZeroCell) zeroBytes += r.Length;
            else unallocatedBytes += r.Length;

            long end = off + r.Length;
            for (long pos = off; pos < end;)
            {
                int c = (int)(pos / cellBytes);
                long cellStart = c * cellBytes, cellEnd = Math.Min(cellStart + cellBytes, size);
                long n = Math.Min(end, cellEnd) - pos;
                if (pos == cellStart && pos + n == cellEnd) cellOwner[c] = who;
                else
                {
                    tally.Add(who, n);
                    if (pos + n == cellEnd) cellOwner[c] = tally.TakeWinner();
                }
                pos += n;
            }
            off = end;
        }
        while (ownerBytes.Count < owners.Labels.Count) ownerBytes.Add(0);

        var lines = new List<(string Text, uint Swatch)>();
        string Clusters(long bytes) => string.Create(CultureInfo.InvariantCulture,
            $"{(bytes + cluster - 1) / cluster} cluster{((bytes + cluster - 1) / cluster == 1 ? "" : "s")} ({QemuSize.Format(bytes)})");
        // Only owners that hold something: a state emptied by rewrites (or the fresh state after a snapshot) has no cell
        // to explain, and leaving it out keeps two pictures of the same view identical whatever states came and went.
        for (int i = 0; i < owners.Labels.Count; i++)
            if (ownerBytes[i] > 0) lines.Add(($"{owners.Labels[i]}: {Clusters(ownerBytes[i])}", OwnerColour(owners.ColourOf(i))));
        lines.Add(($"zero (known to read as zeroes: zero cluster or hole): {Clusters(zeroBytes)}", ZeroColour));
        lines.Add(($"unallocated{(chain.LayerCount > 1 ? " in every layer" : "")}: {Clusters(unallocatedBytes)}", UnallocatedColour));

        string scale = perCell == 1
            ? string.Create(CultureInfo.InvariantCulture, $"{clusters} clusters of {QemuSize.Format(cluster)}, one cell each")
            : string.Create(CultureInfo.InvariantCulture,
                $"{clusters} clusters of {QemuSize.Format(cluster)}, merged {perCell} per cell (largest data owner shown)");
        var header = new[] { Fit(title), Fit(scale) };

        int cellPx = cells <= Columns * 64 ? 8 : 4;
        int rows = (cells + Columns - 1) / Columns;
        int textWidth = 0;
        foreach (var h in header) textWidth = Math.Max(textWidth, BitmapFont.Width(h, TextScale));
        foreach (var (t, _) in lines) textWidth = Math.Max(textWidth, Swatch + 8 + BitmapFont.Width(Fit(t), TextScale));
        int width = 2 * Margin + Math.Max(Columns * cellPx, textWidth);
        int gridTop = Margin + header.Length * LineHeight + 4;
        int legendTop = gridTop + rows * cellPx + 12;
        int height = legendTop + lines.Count * LineHeight + Margin;

        var pixels = new uint[width * height];
        pixels.AsSpan().Fill(Background);
        for (int i = 0; i < header.Length; i++)
            BitmapFont.Draw(pixels, width, Margin, Margin + i * LineHeight, header[i], TextColour, TextScale);
        for (int c = 0; c < cells; c++)
        {
            int who = cellOwner[c];
            uint colour = who >= 0 ? OwnerColour(owners.ColourOf(who)) : who == ZeroCell ? ZeroColour : UnallocatedColour;
            // One pixel of background between cells keeps single clusters countable.
            Fill(pixels, width, Margin + c % Columns * cellPx, gridTop + c / Columns * cellPx, cellPx - 1, cellPx - 1, colour);
        }
        for (int i = 0; i < lines.Count; i++)
        {
            int y = legendTop + i * LineHeight;
            Fill(pixels, width, Margin, y, Swatch, Swatch, 0xFF808080); // outline, so the near-white swatch shows
            Fill(pixels, width, Margin + 1, y + 1, Swatch - 2, Swatch - 2, lines[i].Swatch);
            BitmapFont.Draw(pixels, width, Margin + Swatch + 8, y, Fit(lines[i].Text), TextColour, TextScale);
        }
        PngWriter.Write(output, width, height, pixels);
    }

    /// <summary>The colour of owner <paramref name="index"/>: the palette, then hues spaced by the golden angle.</summary>
    public static uint OwnerColour(int index)
    {
        if (index < Palette.Length) return Palette[index];
        double h = (index - Palette.Length) * 137.508 % 360 / 60;
        double x = 1 - Math.Abs(h % 2 - 1);
        (double r, double g, double b) = (int)h switch
        {
            0 => (1d, x, 0d), 1 => (x, 1d, 0d), 2 => (0d, 1d, x), 3 => (0d, x, 1d), 4 => (x, 0d, 1d), _ => (1d, 0d, x),
        };
        uint C(double v) => (uint)(40 + v * 170);
        return 0xFF000000 | C(r) << 16 | C(g) << 8 | C(b);
    }

    private static string Fit(string text) => text.Length <= MaxLineChars ? text : string.Concat(text.AsSpan(0, MaxLineChars - 3), "...");

    private static void Fill(Span<uint> pixels, int width, int x, int y, int w, int h, uint colour)
    {
        for (int row = y; row < y + h; row++) pixels.Slice(row * width + x, w).Fill(colour);
    }

    /// <summary>
    /// The owners of one cell that several runs share (a merged cell, or a run ending mid-cluster): data wins over
    /// zero over unallocated, and among data the owner with the most bytes. Cells hold few runs, so a short list.
    /// </summary>
    private sealed class CellTally
    {
        private readonly List<(int Who, long Bytes)> _parts = [];

        public void Add(int who, long bytes)
        {
            for (int i = 0; i < _parts.Count; i++)
                if (_parts[i].Who == who) { _parts[i] = (who, _parts[i].Bytes + bytes); return; }
            _parts.Add((who, bytes));
        }

        public int TakeWinner()
        {
            int best = UnallocatedCell;
            long bestBytes = -1;
            foreach (var (who, bytes) in _parts)
            {
                bool better = who >= 0 ? best < 0 || bytes > bestBytes : who == ZeroCell && best == UnallocatedCell;
                if (better) { best = who; bestBytes = bytes; }
            }
            _parts.Clear();
            return best;
        }
    }
}
