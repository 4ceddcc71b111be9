namespace MiniVM.Cli.Tests;

/// <summary>`img map --png`: cells coloured by the owning iROW state or chain layer, read back from the PNG.</summary>
public sealed class MapPictureTests : IDisposable
{
    // The picture's colours (MapPicture): owners in palette order, root state / bottom layer first.
    private const int First = 0x1F77B4, Second = 0xFF7F0E, Third = 0x2CA02C;
    private const int Unallocated = 0xEDEDED, Zero = 0xA8A8A8, Background = 0xFFFFFF;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void Io(string file, params string[] commands)
    {
        var args = new List<string> { "io" };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(file);
        CliResult.Run([.. args]).AssertSuccess();
    }

    private PngPicture Map(string image)
    {
        string png = _dir.File("map.png");
        var r = CliResult.Run("img", "map", "--png", png, image);
        r.AssertSuccess();
        Assert.Contains("map.png", r.Out);
        return PngPicture.Read(png);
    }

    /// <summary>Cell 0's top-left pixel (the first pixel of <paramref name="cell0"/>'s colour) and the cell pitch.</summary>
    private static (int X, int Y, int Pitch) Grid(PngPicture p, int cell0)
    {
        var (x, y) = p.Find(cell0);
        int w = 0;
        while (p[x + w, y] == cell0) w++;
        Assert.Equal(Background, p[x + w, y]); // one pixel of background between cells
        return (x, y, w + 1);
    }

    private static int Cell(PngPicture p, (int X, int Y, int Pitch) g, int index) =>
        p[g.X + index % 128 * g.Pitch + 1, g.Y + index / 128 * g.Pitch + 1];

    [Fact]
    public void Irow_cells_take_the_colour_of_the_state_that_owns_them()
    {
        string f = _dir.File("d.irow");
        CliResult.Run("img", "create", "-f", "irow", f, "16M").AssertSuccess();
        Io(f, "write -P 1 0 128k");                 // clusters 0-1 in the state that becomes "base"
        CliResult.Run("img", "snapshot", "-c", "base", f).AssertSuccess();
        Io(f, "write -P 2 64k 64k", "write -P 3 320k 64k"); // cluster 1 rewritten, cluster 5 new: the current state
        var p = Map(f);
        var g = Grid(p, First);
        Assert.Equal(First, Cell(p, g, 0));
        Assert.Equal(Second, Cell(p, g, 1));   // redirect-on-write: the rewrite lives in the new state
        Assert.Equal(Unallocated, Cell(p, g, 2));
        Assert.Equal(Second, Cell(p, g, 5));
        Assert.Equal(Unallocated, Cell(p, g, 255)); // last of 256 clusters, second grid row
        Assert.Equal(Background, Cell(p, g, 256));  // no cell past the end of the disk

        // The legend sits below the grid: a swatch per owner, then zero and unallocated; the picture stays small.
        var (_, legendY) = p.Find(Second);
        Assert.Equal(g.Y, legendY); // first orange pixel is cell 1, in the grid's first row
        Assert.True(p.Height > g.Y + 2 * g.Pitch + 5 * 14, $"height {p.Height} leaves no room for a legend");
        Assert.InRange(p.Width, 128 * g.Pitch, 1300);
        Assert.InRange(p.Height, 100, 400);
        int swatches = 0;
        for (int y = g.Y + 2 * g.Pitch; y < p.Height; y++)
            if (p[g.X + 3, y] == Second && p[g.X + 3, y - 1] != Second) swatches++;
        Assert.Equal(1, swatches);
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
        var g = Grid(before, First);
        int one = Cell(before, g, 1);
        Assert.Equal(Second, one);

        // Back to "base" and a different write: the new current state sits at the same depth as "one".
        CliResult.Run("img", "snapshot", "-a", "base", f).AssertSuccess();
        Io(f, "write -P 3 128k 64k");
        var after = Map(f);
        g = Grid(after, First);
        Assert.Equal(First, Cell(after, g, 0));
        Assert.Equal(Unallocated, Cell(after, g, 1)); // "one" is not in this view
        int branch = Cell(after, g, 2);
        Assert.NotEqual(one, branch);
        Assert.NotEqual(Unallocated, branch);
        Assert.NotEqual(Zero, branch);
    }

    [Fact]
    public void Backing_chain_cells_are_coloured_by_layer()
    {
        string b = _dir.File("base.raw"), o = _dir.File("ov.qcow2");
        CliResult.Run("img", "create", "-f", "raw", b, "4M").AssertSuccess();
        Io(b, "write -P 1 0 64k", "write -P 1 128k 64k");
        CliResult.Run("img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", o).AssertSuccess();
        Io(o, "write -P 2 128k 64k", "write -P 2 1M 64k");
        var p = Map(o);
        var g = Grid(p, First);
        Assert.Equal(First, Cell(p, g, 0));       // backing layer
        Assert.Equal(Zero, Cell(p, g, 1));        // a hole in the raw base: known zeroes
        Assert.Equal(Second, Cell(p, g, 2));      // the overlay hides the base's cluster
        Assert.Equal(Second, Cell(p, g, 16));
        Assert.Equal(Zero, Cell(p, g, 63));
        Assert.NotEqual(Third, Cell(p, g, 17));
    }

    [Fact]
    public void Huge_image_merges_clusters_and_stays_a_sensible_size()
    {
        string f = _dir.File("big.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", f, "4T").AssertSuccess();
        Io(f, "write -P 1 0 64k");
        var p = Map(f);
        var g = Grid(p, First);
        Assert.Equal(First, Cell(p, g, 0));
        Assert.Equal(Unallocated, Cell(p, g, 1));
        Assert.InRange(p.Height, 256 * g.Pitch, 2 * 256 * g.Pitch); // 256 rows of merged cells, not 2^26 cells
        Assert.InRange(p.Width, 128 * g.Pitch, 1300);
    }

    [Fact]
    public void Png_with_start_offset_is_a_usage_error_and_missing_image_names_it()
    {
        string f = _dir.File("a.raw");
        CliResult.Run("img", "create", "-f", "raw", f, "1M").AssertSuccess();
        CliResult.Run("img", "map", "--png", _dir.File("m.png"), "--start-offset", "0", f).AssertOneError(64, "--png");
        CliResult.Run("img", "map", "--png", _dir.File("m.png"), _dir.File("none.raw")).AssertOneError(66, "none.raw");
        Assert.False(File.Exists(_dir.File("m.png")));
    }
}
