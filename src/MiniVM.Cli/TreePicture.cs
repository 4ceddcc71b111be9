using System.Globalization;
using MiniVM.Drawing;
using SkiaSharp;

namespace MiniVM.Cli;

/// <summary>
/// `img snapshot -l --png/--svg`: the states of an image (<see cref="StateGraph"/>) as a tree picture, one box per
/// state, children indented below their parent and joined to it by a line. A box names the state and its id and says
/// its date, VM-state size and how much data it owns; its swatch has the colour the state's clusters have in the map.
/// The current state has a heavy black border; a deleted state that iROW keeps for its children (a "_del" record) is
/// grey with a dashed border; a backing layer says its format.
/// </summary>
internal static class TreePicture
{
    /// <summary>Rows drawn at most; a larger tree ends with a line saying how many were left out.</summary>
    public const int MaxRows = 2000;

    private const float Margin = 12, RowHeight = 46, BoxHeight = 38, Indent = 26, MaxIndentLevels = 40;
    private const float NameSize = 13, DetailSize = 11;
    public static readonly SKColor DeletedColour = new(0x90, 0x90, 0x90);
    private static readonly SKColor BorderColour = new(0x90, 0x90, 0x90);

    public static Picture Draw(List<StateNode> roots, MapOwners owners, string title)
    {
        var all = StateGraph.Flatten(roots);
        var rows = all.Count > MaxRows ? all.GetRange(0, MaxRows) : all;
        var rowOf = new Dictionary<StateNode, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < rows.Count; i++) rowOf[rows[i]] = i;
        var parentOf = new Dictionary<StateNode, StateNode>(ReferenceEqualityComparer.Instance);
        foreach (var n in rows)
            foreach (var c in n.Children) parentOf[c] = n;

        int snapshots = all.Count(n => !n.IsLayer && !n.IsCurrent && !n.IsDeleted), deleted = all.Count(n => n.IsDeleted);
        string subtitle = string.Create(CultureInfo.InvariantCulture,
            $"{snapshots} snapshot{(snapshots == 1 ? "" : "s")}{(deleted > 0 ? $", {deleted} deleted state{(deleted == 1 ? "" : "s")} kept for {(deleted == 1 ? "its" : "their")} children" : "")}; heavy border: the current state");
        float top = Margin + 44;
        float width = Math.Max(Ink.Width(title, 15), Ink.Width(subtitle, 12));
        var boxWidths = new float[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            boxWidths[i] = 34 + Math.Max(Ink.Width(NameLine(rows[i]), NameSize) * 1.05f, Ink.Width(DetailLine(rows[i]), DetailSize));
            width = Math.Max(width, X(rows[i]) - Margin + boxWidths[i]);
        }
        string? more = all.Count > rows.Count ? $"... {all.Count - rows.Count} more states not drawn" : null;
        int w = (int)Math.Ceiling(width + 2 * Margin);
        int h = (int)Math.Ceiling(top + rows.Count * RowHeight + (more is null ? 0 : RowHeight) + Margin);

        return new Picture(w, h, c =>
        {
            Ink.Text(c, title, Margin, Margin, 15, MapPicture.TextColour, bold: true);
            Ink.Text(c, subtitle, Margin, Margin + 20, 12, MapPicture.TextColour);
            for (int i = 0; i < rows.Count; i++)
            {
                var n = rows[i];
                float x = X(n), y = top + i * RowHeight;
                if (parentOf.TryGetValue(n, out var p) && rowOf.TryGetValue(p, out int pr))
                {
                    float px = X(p) + 12, py = top + pr * RowHeight + BoxHeight;
                    Ink.Line(c, px, py, px, y + BoxHeight / 2, MapPicture.AxisColour);
                    Ink.Line(c, px, y + BoxHeight / 2, x, y + BoxHeight / 2, MapPicture.AxisColour);
                }
                DrawBox(c, n, owners, x, y, boxWidths[i]);
            }
            if (more is not null) Ink.Text(c, more, Margin, top + rows.Count * RowHeight + 8, NameSize, MapPicture.TextColour);
        });
    }

    private static float X(StateNode n) => Margin + Math.Min(n.Depth, MaxIndentLevels) * Indent;

    private static void DrawBox(SKCanvas c, StateNode n, MapOwners owners, float x, float y, float width)
    {
        Ink.Fill(c, x, y, width, BoxHeight, n.IsDeleted ? new SKColor(0xF4, 0xF4, 0xF4) : SKColors.White);
        if (n.IsCurrent) Ink.Stroke(c, x, y, width, BoxHeight, MapPicture.TextColour, 3);
        else if (n.IsDeleted) DashedBox(c, x, y, width, BoxHeight);
        else Ink.Stroke(c, x, y, width, BoxHeight, BorderColour);
        // The swatch: the colour of the state's cells in the map; hollow when it owns none there.
        if (n.ColourIn(owners) is { } colour && n.OwnedBytes != 0)
            MapPicture.DataCell(c, x + 7, y + 12, 14, MapPicture.OwnerColour(colour), own: true);
        else MapPicture.HollowCell(c, x + 7, y + 12, 14);
        var ink = n.IsDeleted ? DeletedColour : MapPicture.TextColour;
        Ink.Text(c, NameLine(n), x + 28, y + 4, NameSize, ink, bold: n.IsCurrent);
        Ink.Text(c, DetailLine(n), x + 28, y + 21, DetailSize, n.IsDeleted ? DeletedColour : MapPicture.AxisColour);
    }

    /// <summary>Dashes drawn as lines: Skia's SVG output has no dash effect.</summary>
    private static void DashedBox(SKCanvas c, float x, float y, float w, float h)
    {
        const float dash = 5, gap = 3;
        void Dashes(float x0, float y0, float x1, float y1)
        {
            float len = MathF.Max(MathF.Abs(x1 - x0), MathF.Abs(y1 - y0));
            for (float t = 0; t < len; t += dash + gap)
            {
                float e = MathF.Min(t + dash, len);
                Ink.Line(c, x0 + (x1 - x0) * t / len, y0 + (y1 - y0) * t / len, x0 + (x1 - x0) * e / len, y0 + (y1 - y0) * e / len,
                    DeletedColour, 1.5f);
            }
        }
        Dashes(x, y + 0.75f, x + w, y + 0.75f);
        Dashes(x, y + h - 0.75f, x + w, y + h - 0.75f);
        Dashes(x + 0.75f, y, x + 0.75f, y + h);
        Dashes(x + w - 0.75f, y, x + w - 0.75f, y + h);
    }

    public static string NameLine(StateNode n) =>
        n.IsLayer ? $"{n.Name} ({n.Format}{(n.IsCurrent ? ", current" : ", backing")})"
        : n.IsDeleted ? $"{n.Name} (id {n.Id}) deleted, kept for its children"
        : n.Id is null ? n.Name
        : $"{n.Name} (id {n.Id})";

    public static string DetailLine(StateNode n)
    {
        var parts = new List<string>();
        if (n.Date is { } d && !n.IsLayer) parts.Add(d.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC");
        if (!n.IsLayer && !n.IsCurrent) parts.Add($"VM state {QemuSize.Format(n.VmStateSize)}");
        parts.Add(n.OwnedBytes is { } b ? $"owns {QemuSize.Format(b)}" : "owns: not kept per snapshot by this format");
        // Shared clusters (qcow2): what the snapshot alone references, i.e. what deleting it frees.
        if (n.ExclusiveBytes is { } only) parts.Add($"{QemuSize.Format(only)} only its own");
        return string.Join(" · ", parts);
    }
}
