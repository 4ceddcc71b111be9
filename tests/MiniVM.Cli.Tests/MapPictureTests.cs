namespace MiniVM.Cli.Tests;

/// <summary>
/// `img map --png/--svg`: cells coloured by the owning iROW state or chain layer, marked as this state's own data
/// (solid), an ancestor's (white diagonal), zero (grey) or unallocated (hollow); offset labels, a scale line and a
/// legend of only what is shown. The SVG (parsed as XML) says where each cell is; the PNG's pixels are checked there.
/// </summary>
public sealed class MapPictureTests : IDisposable
{
    // The picture's colours (MapPicture): owners in palette order, root state / bottom layer first.
    private const int First = 0x1F77B4, Second = 0xFF7F0E, Third = 0x2CA02C;
    private const int Zero = 0xA8A8A8, Hollow = 0xC0C0C0, White = 0xFFFFFF;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void Io(string file, params string[] commands)
    {
        var args = new List<string> { "io" };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(file);
        CliResult.Run([.. args]).AssertSuccess();
    }

    private (PngPicture Png, SvgPicture Svg) Map(string image)
    {
        string png = _dir.File("map.png"), svg = _dir.File("map.svg");
        var r = CliResult.Run("img", "map", "--png", png, "--svg", svg, image);
        r.AssertSuccess();
        Assert.Contains("map.png", r.Out);
        Assert.Contains("map.svg", r.Out);
        var picture = (PngPicture.Read(png), SvgPicture.Read(svg));
        Assert.Equal((picture.Item1.Width, picture.Item1.Height), (picture.Item2.Width, picture.Item2.Height));
        return picture;
    }

    /// <summary>What the PNG shows in cell <paramref name="index"/>: its fill colour (near its top-left corner) and its mark.</summary>
    private static (int Colour, string Mark) Cell((PngPicture Png, SvgPicture Svg) p, int index)
    {
        var (x, y, size) = p.Svg.Cells[index];
        int corner = p.Png[x + 1, y + 1], centre = p.Png[x + size / 2, y + size / 2], edge = p.Png[x, y + size / 2];
        if (edge == Hollow && centre == White) return (White, "unallocated");
        if (corner == Zero) return (Zero, "zero");
        return (corner, centre == corner ? "own" : centre == White ? "ancestor" : $"centre {centre:X6}");
    }

    [Fact]
    public void Irow_cells_show_the_owning_state_its_mark_and_the_offsets_of_their_rows()
    {
        string f = _dir.File("d.irow");
        CliResult.Run("img", "create", "-f", "irow", f, "16M").AssertSuccess();
        Io(f, "write -P 1 0 128k");                 // clusters 0-1 in the state that becomes "base"
        CliResult.Run("img", "snapshot", "-c", "base", f).AssertSuccess();
        Io(f, "write -P 2 64k 64k", "write -P 3 320k 64k"); // cluster 1 rewritten, cluster 5 new: the current state
        var p = Map(f);
        Assert.Equal(256, p.Svg.Cells.Count);       // one cell per 64 KiB cluster of 16 MiB
        Assert.Equal((First, "ancestor"), Cell(p, 0));
        Assert.Equal((Second, "own"), Cell(p, 1));  // redirect-on-write: the rewrite lives in the current state
        Assert.Equal((White, "unallocated"), Cell(p, 2));
        Assert.Equal((Second, "own"), Cell(p, 5));
        Assert.Equal((White, "unallocated"), Cell(p, 255));

        // 32 cells of 64 KiB per row: rows start at 0, 2 MiB, ... 14 MiB, and the labels are drawn left of the grid.
        Assert.Equal(p.Svg.Cells[0].Y + p.Svg.Cells[32].Size + 1, p.Svg.Cells[32].Y);
        for (int row = 0; row < 8; row++) Assert.Contains(row == 0 ? "0" : $"{2 * row} MiB", p.Svg.Texts);
        var (gx, gy, size) = p.Svg.Cells[32];
        Assert.True(p.Png.DarkPixels(0, gy, gx, size) > 10, "no '2 MiB' label left of the second row");
        Assert.Contains("one cell = 64 KiB (one cluster); one row = 2 MiB", p.Svg.Texts);
        Assert.Contains("2 MiB per row", p.Svg.Texts);

        // The legend lists what the picture shows, and nothing else (no zero row: this image has no zero cluster).
        Assert.Contains("base (id 1), ancestor: 1 cluster (64 KiB)", p.Svg.Texts);
        Assert.Contains("current state, this state: 2 clusters (128 KiB)", p.Svg.Texts);
        Assert.Contains("unallocated: 253 clusters (15.8 MiB)", p.Svg.Texts);
        Assert.DoesNotContain(p.Svg.Texts, t => t.StartsWith("zero", StringComparison.Ordinal));
        Assert.InRange(p.Png.Width, 400, 900);
        Assert.InRange(p.Png.Height, 200, 400);
    }

    [Fact]
    public void A_branch_never_takes_the_colour_of_its_sibling_snapshot()
    {
        string f = _dir.File("d.irow");
        CliResult.Run("img", "create", "-f", "irow", f, "16M").AssertSuccess();
        Io(f, "write -P 1 0 64k");
        CliResult.Run("img", "snapshot", "-c", "base", f).AssertSuccess();
        Io(f, "write -P 2 64k 64k");
        CliResult.Run("img", "snapshot", "-c", "one", f).AssertSuccess();
        var before = Map(f);
        Assert.Equal((Second, "ancestor"), Cell(before, 1));

        // Back to "base" and a different write: the new current state sits at the same depth as "one".
        CliResult.Run("img", "snapshot", "-a", "base", f).AssertSuccess();
        Io(f, "write -P 3 128k 64k");
        var after = Map(f);
        Assert.Equal((First, "ancestor"), Cell(after, 0));
        Assert.Equal((White, "unallocated"), Cell(after, 1)); // "one" is not in this view
        var (branch, mark) = Cell(after, 2);
        Assert.Equal("own", mark);
        Assert.NotEqual(Second, branch);
        Assert.NotEqual(First, branch);
    }

    [Fact]
    public void Backing_chain_cells_are_coloured_by_layer_and_zeroes_are_grey()
    {
        string b = _dir.File("base.raw"), o = _dir.File("ov.qcow2");
        CliResult.Run("img", "create", "-f", "raw", b, "4M").AssertSuccess();
        Io(b, "write -P 1 0 64k", "write -P 1 128k 64k");
        CliResult.Run("img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", o).AssertSuccess();
        Io(o, "write -P 2 128k 64k", "write -P 2 1M 64k");
        var p = Map(o);
        Assert.Equal(64, p.Svg.Cells.Count);
        Assert.Equal((First, "ancestor"), Cell(p, 0)); // the backing layer
        Assert.Equal((Zero, "zero"), Cell(p, 1));      // a hole in the raw base: known zeroes
        Assert.Equal((Second, "own"), Cell(p, 2));     // the overlay hides the base's cluster
        Assert.Equal((Second, "own"), Cell(p, 16));
        Assert.Equal((Zero, "zero"), Cell(p, 63));
        Assert.NotEqual(Third, Cell(p, 17).Colour);
        Assert.Contains("backing 1: base.raw, ancestor: 1 cluster (64 KiB)", p.Svg.Texts);
        Assert.Contains("ov.qcow2, this state: 2 clusters (128 KiB)", p.Svg.Texts);
        Assert.Contains(p.Svg.Texts, t => t.StartsWith("zero (reads as zeroes, no data stored): 61 clusters", StringComparison.Ordinal));
        Assert.DoesNotContain(p.Svg.Texts, t => t.StartsWith("unallocated", StringComparison.Ordinal));
    }

    [Fact]
    public void Huge_image_merges_clusters_into_round_cells_and_stays_a_sensible_size()
    {
        string f = _dir.File("big.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", f, "4T").AssertSuccess();
        Io(f, "write -P 1 0 64k");
        var p = Map(f);
        Assert.Equal(128 * 64, p.Svg.Cells.Count); // 2^26 clusters merged 8192 per cell
        Assert.Equal((First, "own"), Cell(p, 0));
        Assert.Equal((White, "unallocated"), Cell(p, 1));
        Assert.Contains("one cell = 512 MiB (8192 clusters of 64 KiB, largest data owner shown); one row = 64 GiB", p.Svg.Texts);
        Assert.Contains("128 GiB", p.Svg.Texts);   // every second row labelled, in GiB
        Assert.Contains("3.875 TiB", p.Svg.Texts); // the last labelled row
        Assert.InRange(p.Png.Width, 128 * 8, 1300);
        Assert.InRange(p.Png.Height, 64 * 8, 800);
    }

    [Fact]
    public void Picture_with_start_offset_is_a_usage_error_and_missing_image_names_it()
    {
        string f = _dir.File("a.raw");
        CliResult.Run("img", "create", "-f", "raw", f, "1M").AssertSuccess();
        CliResult.Run("img", "map", "--png", _dir.File("m.png"), "--start-offset", "0", f).AssertOneError(64, "--png");
        CliResult.Run("img", "map", "--svg", _dir.File("m.svg"), "--max-length", "1", f).AssertOneError(64, "--svg");
        CliResult.Run("img", "map", "--png", _dir.Path, f).AssertOneError(64, "is a directory");
        CliResult.Run("img", "map", "--png", _dir.File("m.png"), _dir.File("none.raw")).AssertOneError(66, "none.raw");
        Assert.False(File.Exists(_dir.File("m.png")));
    }
}
