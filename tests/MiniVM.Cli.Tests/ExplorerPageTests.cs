using System.Text.Json;
using System.Text.RegularExpressions;

namespace MiniVM.Cli.Tests;

/// <summary>
/// `img explore -o PAGE.html`: one self-contained page per image (iROW, qcow2 with internal snapshots, add-cow and FVD
/// overlays, mixed-format chains), read as its data and in Debian's headless chromium, where a state is clicked.
/// </summary>
public sealed partial class ExplorerPageTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void Run(params string[] args) => CliResult.Run(args).AssertSuccess();

    private string Explore(string image, string page = "report.html")
    {
        string html = _dir.File(page);
        var r = CliResult.Run("img", "explore", image, "-o", html);
        r.AssertSuccess();
        Assert.Contains($"explorer page of {image} written to {html}", r.Out);
        return html;
    }

    /// <summary>The page's embedded data, after checking that it needs nothing from outside.</summary>
    private static JsonElement Data(string html)
    {
        string text = File.ReadAllText(html);
        Assert.StartsWith("<!DOCTYPE html>", text);
        foreach (var outside in new[] { "http:", "https:", "<link", " src=", "<iframe", "<img", "@import", "url(" })
            Assert.DoesNotContain(outside, text, StringComparison.OrdinalIgnoreCase);
        var m = DataScript().Match(text);
        Assert.True(m.Success, "no embedded data");
        return JsonDocument.Parse(m.Groups[1].Value).RootElement.Clone();
    }

    private static List<string> StateTitles(JsonElement data) =>
        data.GetProperty("states").EnumerateArray().Select(s => s.GetProperty("title").GetString()!).ToList();

    /// <summary>Cell number → class list, from chromium's DOM after the page's scripts ran.</summary>
    private static Dictionary<int, string> Cells(string dom)
    {
        var cells = new Dictionary<int, string>();
        foreach (Match m in CellElement().Matches(dom)) cells[int.Parse(m.Groups[1].Value)] = m.Groups[2].Value;
        return cells;
    }

    private string Url(string html, string state) => new Uri(html).AbsoluteUri + "#state=" + Uri.EscapeDataString(state);

    [Fact]
    public void Clicking_an_irow_snapshot_highlights_the_clusters_it_owns_even_after_a_revert()
    {
        string f = _dir.File("d.irow");
        Run("img", "create", "-f", "irow", f, "16M");
        Run("io", "-c", "write -P 1 0 128k", f);   // clusters 0-1: "base"
        Run("img", "snapshot", "-c", "base", f);
        Run("io", "-c", "write -P 2 1M 192k", f);  // clusters 16-18: "gone"
        Run("img", "snapshot", "-c", "gone", f);
        Run("img", "snapshot", "-a", "base", f);   // "gone" is off the current path now
        Run("io", "-c", "write -P 3 64k 64k", f);  // cluster 1 rewritten by the current state
        string html = Explore(f);
        Assert.Equal(["base (id 1)", "gone (id 2)", "current state"], StateTitles(Data(html)));

        string dom = Chromium.DumpDom(Url(html, "gone"), _dir.File("profile"));
        var cells = Cells(dom);
        Assert.Equal(256, cells.Count);
        Assert.Equal([16, 17, 18], cells.Where(c => c.Value.Contains(" hl", StringComparison.Ordinal)).Select(c => c.Key).Order());
        Assert.Equal(253, cells.Count(c => c.Value.Contains("dim", StringComparison.Ordinal)));
        Assert.Contains("gone (id 2): owns 192 KiB in 3 cells, 0 of them read by the current view", dom);

        dom = Chromium.DumpDom(Url(html, "1"), _dir.File("profile")); // by id
        cells = Cells(dom);
        Assert.Equal([0, 1], cells.Where(c => c.Value.Contains(" hl", StringComparison.Ordinal)).Select(c => c.Key).Order());
        Assert.Contains("base (id 1): owns 128 KiB in 2 cells, 1 of them read by the current view", dom);
        Assert.Contains("class=\"state selected\"", dom);

        // What a user sees: the screenshot has the selection's amber outline and base's blue cells.
        string shot = _dir.File("shot.png");
        Chromium.Screenshot(Url(html, "base"), shot, _dir.File("profile"));
        var png = PngPicture.Read(shot);
        Assert.Equal((1280, 800), (png.Width, png.Height));
        png.Find(0xE8A000);
        png.Find(0x1F77B4);
    }

    [Fact]
    public void A_mixed_chain_shows_each_layer_and_hovering_data_names_its_host_file_and_offset()
    {
        string raw = _dir.File("base.raw"), cow = _dir.File("mid.add-cow"), fvd = _dir.File("top.fvd");
        Run("img", "create", "-f", "raw", raw, "4M");
        Run("io", "-c", "write -P 7 0 1M", raw);
        Run("img", "create", "-f", "add-cow", "-b", "base.raw", "-F", "raw", cow);
        Run("io", "-c", "write -P 8 1M 1M", cow);
        Run("img", "create", "-f", "fvd", "-b", "mid.add-cow", "-F", "add-cow", fvd);
        Run("io", "-c", "write -P 9 3M 512k", fvd);
        string html = Explore(fvd);
        var data = Data(html);
        Assert.Equal(["base.raw (raw, backing)", "mid.add-cow (add-cow, backing)", "top.fvd (fvd, current)"], StateTitles(data));
        var files = data.GetProperty("files").EnumerateArray().Select(e => Path.GetFileName(e.GetString()!)).ToList();
        Assert.Contains("base.raw", files);
        Assert.Contains("top.fvd", files);

        string dom = Chromium.DumpDom(Url(html, "mid.add-cow"), _dir.File("profile"));
        var cells = Cells(dom);
        var hl = cells.Where(c => c.Value.Contains(" hl", StringComparison.Ordinal)).Select(c => c.Key).ToList();
        long cellBytes = data.GetProperty("cellBytes").GetInt64();
        int perMiB = (int)((1L << 20) / cellBytes);
        Assert.Equal(Enumerable.Range(perMiB, perMiB), hl.Order()); // exactly [1 MiB, 2 MiB)

        // The hover text is built from the same data: the first cell of base.raw is at host offset 0 of base.raw.
        int first = data.GetProperty("hostFile")[0].GetInt32();
        Assert.Equal("base.raw", files[first]);
        Assert.Equal(0, data.GetProperty("hostOffset")[0].GetInt64());
    }

    [Fact]
    public void Qcow2_internal_snapshots_are_listed_and_the_current_state_owns_the_data()
    {
        string f = _dir.File("q.qcow2");
        Run("img", "create", "-f", "qcow2", f, "64M");
        Run("io", "-c", "write -P 1 0 1M", f);
        Run("img", "snapshot", "-c", "one", f);
        Run("io", "-c", "write -P 2 320k 64k", f); // cluster 5 rewritten: "one" alone keeps its old data
        string html = Explore(f);
        var data = Data(html);
        Assert.Equal(["one (id 1)", "current state"], StateTitles(data));
        var cells = data.GetProperty("cells").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(1024, cells.Count);
        Assert.All(cells.Take(16), c => Assert.True(data.GetProperty("owners")[c].GetProperty("own").GetBoolean()));
        Assert.All(cells.Skip(16), c => Assert.Equal(-2, c));
        Assert.EndsWith("owns 64 KiB · 64 KiB only its own", data.GetProperty("states")[0].GetProperty("detail").GetString());

        string dom = Chromium.DumpDom(Url(html, "one"), _dir.File("profile"));
        var shown = Cells(dom);
        Assert.Equal(1024, shown.Count);
        Assert.Equal([5], shown.Where(c => c.Value.Contains(" hl", StringComparison.Ordinal)).Select(c => c.Key));
        Assert.Equal(1023, shown.Count(c => c.Value.Contains("dim", StringComparison.Ordinal)));
        Assert.Contains("one (id 1): owns 64 KiB in 1 cell, 0 of them read by the current view", dom);
    }

    [Fact]
    public void A_one_tebibyte_sparse_image_gives_a_small_page_and_pictures()
    {
        string f = _dir.File("big.qcow2");
        Run("img", "create", "-f", "qcow2", f, "1T");
        Run("io", "-c", "write -P 1 0 1M", "-c", "write -P 2 512G 64k", f);
        string html = Explore(f);
        var data = Data(html);
        Assert.Equal(8192, data.GetProperty("cells").GetArrayLength());
        Assert.InRange(new FileInfo(html).Length, 10_000, 256 * 1024);
        Run("img", "map", "--png", _dir.File("big.png"), "--svg", _dir.File("big.svg"), f);
        Assert.InRange(new FileInfo(_dir.File("big.png")).Length, 1_000, 128 * 1024);
        Assert.InRange(new FileInfo(_dir.File("big.svg")).Length, 1_000, 2 * 1024 * 1024);
    }

    [Fact]
    public void Explore_needs_an_output_file_and_names_a_missing_image()
    {
        Assert.Equal(64, CliResult.Run("img", "explore", _dir.File("x.qcow2")).ExitCode);
        CliResult.Run("img", "explore", _dir.File("none.qcow2"), "-o", _dir.File("r.html")).AssertOneError(66, "none.qcow2");
        Assert.False(File.Exists(_dir.File("r.html")));
    }

    [GeneratedRegex("<script type=\"application/json\" id=\"data\">(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex DataScript();

    [GeneratedRegex("<div data-i=\"(\\d+)\" class=\"([^\"]*)\"")]
    private static partial Regex CellElement();
}
