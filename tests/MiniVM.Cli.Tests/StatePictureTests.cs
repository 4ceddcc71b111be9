namespace MiniVM.Cli.Tests;

/// <summary>`img snapshot -l --png/--svg`: the state tree as a picture, for iROW (with its "_del" records) and qcow2.</summary>
public sealed class StatePictureTests : IDisposable
{
    private const int First = 0x1F77B4, Second = 0xFF7F0E;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void Run(params string[] args) => CliResult.Run(args).AssertSuccess();

    private (PngPicture Png, SvgPicture Svg) Tree(string image)
    {
        string png = _dir.File("tree.png"), svg = _dir.File("tree.svg");
        var r = CliResult.Run("img", "snapshot", "-l", "--png", png, "--svg", svg, image);
        r.AssertSuccess();
        Assert.Contains($"snapshot tree of {image} drawn into {png}", r.Out);
        Assert.StartsWith("Snapshot list:", r.Out); // the table is still printed
        return (PngPicture.Read(png), SvgPicture.Read(svg));
    }

    [Fact]
    public void Irow_tree_shows_every_state_with_what_it_owns_and_keeps_a_deleted_father()
    {
        string f = _dir.File("d.irow");
        Run("img", "create", "-f", "irow", f, "16M");
        Run("io", "-c", "write -P 1 0 128k", f);
        Run("img", "snapshot", "-c", "base", f);
        Run("io", "-c", "write -P 2 64k 64k", f);
        Run("img", "snapshot", "-c", "s2", f);
        Run("img", "snapshot", "-a", "base", f);
        Run("img", "snapshot", "-c", "s3", f);
        Run("img", "snapshot", "-d", "base", f); // base has two children: iROW keeps it as "base_del"
        var (png, svg) = Tree(f);
        Assert.Contains("base_del (id 1) deleted, kept for its children", svg.Texts);
        Assert.Contains("s2 (id 2)", svg.Texts);
        Assert.Contains("s3 (id 3)", svg.Texts);
        Assert.Contains("current state", svg.Texts);
        Assert.Contains(svg.Texts, t => t.Contains("owns 128 KiB", StringComparison.Ordinal) && t.Contains("VM state 0 B", StringComparison.Ordinal));
        Assert.Contains(svg.Texts, t => t.StartsWith("2 snapshots, 1 deleted state kept for its children", StringComparison.Ordinal));
        // The swatches carry the map's colours: the root state's blue, s2's orange.
        png.Find(First);
        png.Find(Second);
        // The current state's heavy border: a run of dark pixels at least 3 wide somewhere below the title.
        int dark = png.DarkPixels(0, 60, png.Width, png.Height - 60);
        Assert.True(dark > 200, $"only {dark} dark pixels: no heavy border");
    }

    [Fact]
    public void Qcow2_snapshots_and_the_current_state_are_drawn_and_a_picture_needs_the_list()
    {
        string f = _dir.File("q.qcow2");
        Run("img", "create", "-f", "qcow2", f, "64M");
        Run("io", "-c", "write -P 1 0 1M", f);
        Run("img", "snapshot", "-c", "one", f);
        Run("io", "-c", "write -P 2 0 128k", f); // two clusters rewritten: "one" keeps their old data
        Run("img", "snapshot", "-c", "two", f);
        Run("io", "-c", "write -z 0 64k", f);     // one of them zeroed after "two": "two" keeps a cluster too
        var (_, svg) = Tree(f);
        Assert.Contains("one (id 1)", svg.Texts);
        Assert.Contains("two (id 2)", svg.Texts);
        Assert.Contains("current state", svg.Texts);
        Assert.Contains("owns 960 KiB", svg.Texts); // the current state: 1 MiB less the zeroed cluster
        // What each snapshot holds that the current view no longer reads, and how much of it no other table references.
        Assert.Contains(svg.Texts, t => t.EndsWith("owns 128 KiB · 128 KiB only its own", StringComparison.Ordinal));
        Assert.Contains(svg.Texts, t => t.EndsWith("owns 64 KiB · 64 KiB only its own", StringComparison.Ordinal));
        Assert.DoesNotContain(svg.Texts, t => t.Contains("not kept per snapshot", StringComparison.Ordinal));
        CliResult.Run("img", "snapshot", "-c", "three", "--png", _dir.File("x.png"), f).AssertOneError(64, "-l");
        Assert.False(File.Exists(_dir.File("x.png")));
    }
}
