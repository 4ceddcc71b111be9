namespace MiniVM.Cli.Tests;

/// <summary>
/// `img resize` of iROW/FVD and qemu-img's zeroing of a grown overlay, the backing link of iROW/add-cow/FVD
/// (`rebase`, `rebase -u`, `rebase -p`, `amend -o backing_file`), and `commit -b/-p/-r`, checked against the real
/// qemu-img where it can read the images (qcow2 and raw).
/// </summary>
public sealed class GrowRelinkCommitTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Raw(string name, string size, params string[] writes)
    {
        string f = _dir.File(name);
        QemuImg.Img("create", "-q", "-f", "raw", f, size);
        foreach (var w in writes) QemuImg.Run("qemu-io", "-f", "raw", "-c", w, f);
        return f;
    }

    /// <summary>An overlay of <paramref name="format"/> over base1.raw with a write of 0x33 at 1600k.</summary>
    private string Overlay(string format, string name, string size)
    {
        string ov = _dir.File(name);
        var args = new List<string> { "img", "create", "-f", format, "-b", "base1.raw", "-F", "raw" };
        if (format == "add-cow") args.AddRange(["-o", "image_file=" + name + ".data"]);
        args.AddRange([ov, size]);
        CliResult.Run([.. args]).AssertSuccess();
        CliResult.Run("io", "-c", "write -P 0x33 1600k 64k", ov).AssertSuccess();
        return ov;
    }

    private string Flat(string image, string name)
    {
        string flat = _dir.File(name);
        CliResult.Run("img", "convert", "-O", "raw", image, flat).AssertSuccess();
        return flat;
    }

    [Fact]
    public void Resize_of_a_qcow2_overlay_zeroes_what_a_longer_backing_would_show_as_qemu_img_does()
    {
        Raw("base.raw", "2M", "write -P 0xab 0 2M");
        string mine = _dir.File("mine.qcow2"), theirs = _dir.File("theirs.qcow2");
        foreach (var f in new[] { mine, theirs }) QemuImg.Img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", f, "1M");
        QemuImg.Img("resize", "-q", theirs, "2M");
        var r = CliResult.Run("img", "resize", mine, "2M");
        r.AssertSuccess();
        Assert.Equal("Image resized.\n", r.Out);
        QemuImg.Img("check", mine);
        Assert.Equal(0, QemuImg.Run("qemu-io", "-c", "read -P 0 1M 1M", mine).ExitCode);
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", mine, theirs).ExitCode);
    }

    [Theory]
    [InlineData("irow")]
    [InlineData("fvd")]
    public void Irow_and_fvd_grow_keep_their_data_read_zeroes_past_the_old_end_and_refuse_to_shrink(string format)
    {
        Raw("base1.raw", "4M", "write -P 0x11 0 4M");
        string ov = Overlay(format, "d." + format, "2M");
        var r = CliResult.Run("img", "resize", ov, "+2M");
        r.AssertSuccess();
        Assert.Equal("Image resized.\n", r.Out);
        // Every command reopens the image.
        CliResult.Run("io", "-c", "read -P 0x11 0 1600k", "-c", "read -P 0x33 1600k 64k", "-c", "read -P 0x11 1664k 384k",
            "-c", "read -P 0 2M 2M", "-c", "length", ov).AssertSuccess();
        Assert.Contains("4 MiB", CliResult.Run("io", "-c", "length", ov).Out);
        Assert.Equal(0, CliResult.Run("img", "check", ov).ExitCode);
        CliResult.Run("img", "resize", ov, "1M").AssertOneError(64, "use the --shrink option");
        CliResult.Run("img", "resize", "--shrink", ov, "1M").AssertOneError(69, "cannot shrink");
        Assert.Contains("4 MiB", CliResult.Run("io", "-c", "length", ov).Out);
    }

    [Theory]
    [InlineData("irow")]
    [InlineData("add-cow")]
    [InlineData("fvd")]
    public void Safe_rebase_keeps_what_the_image_reads_and_a_reopen_reads_the_new_backing(string format)
    {
        Raw("base1.raw", "2M", "write -P 0x11 0 1M", "write -P 0x12 1M 1M");
        string b2 = Raw("base2.raw", "2M", "write -P 0x11 0 1M", "write -P 0x22 1M 512k");
        string ov = Overlay(format, "d." + format, "2M");
        string before = Flat(ov, "before.raw");
        var r = CliResult.Run("img", "rebase", "-p", "-b", "base2.raw", "-F", "raw", ov);
        r.AssertSuccess();
        Assert.StartsWith("    (0.00/100%)\r", r.Out);
        Assert.EndsWith("    (100.00/100%)\r\n", r.Out);
        Assert.Contains("backing file: base2.raw", CliResult.Run("img", "info", ov).Out);
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", before, Flat(ov, "after.raw")).ExitCode);
        // Where both bases agree nothing was copied: the image reads base2 there now.
        QemuImg.Run("qemu-io", "-f", "raw", "-c", "write -P 0x44 0 4k", b2);
        CliResult.Run("io", "-c", "read -P 0x44 0 4k", "-c", "read -P 0x12 1M 4k", ov).AssertSuccess();
        // -u to a missing file only rewrites the link; amend sets it back.
        CliResult.Run("img", "rebase", "-u", "-b", "gone.raw", "-F", "raw", ov).AssertSuccess();
        Assert.Contains("backing file: gone.raw", CliResult.Run("img", "info", ov).Out);
        CliResult.Run("img", "amend", "-o", "backing_file=base2.raw,backing_fmt=raw", ov).AssertSuccess();
        CliResult.Run("io", "-c", "read -P 0x44 0 4k", ov).AssertSuccess();
    }

    [Theory]
    [InlineData("irow")]
    [InlineData("add-cow")]
    public void A_format_that_stores_no_backing_format_refuses_one_the_probe_would_not_find(string format)
    {
        Raw("base1.raw", "2M", "write -P 0x11 0 2M");
        string q = _dir.File("base2.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", q, "2M");
        string ov = Overlay(format, "d." + format, "2M");
        CliResult.Run("img", "rebase", "-u", "-b", "base2.qcow2", "-F", "raw", ov).AssertOneError(65, "probes as qcow2, not raw");
        Assert.Contains("backing file: base1.raw", CliResult.Run("img", "info", ov).Out);
    }

    [Fact]
    public void Fvd_rebase_to_no_backing_makes_a_standalone_image()
    {
        Raw("base1.raw", "2M", "write -P 0x11 0 2M");
        string ov = Overlay("fvd", "d.fvd", "2M");
        string before = Flat(ov, "before.raw");
        CliResult.Run("img", "rebase", "-b", "", ov).AssertSuccess();
        File.Delete(_dir.File("base1.raw"));
        Assert.DoesNotContain("backing file", CliResult.Run("img", "info", ov).Out);
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", before, Flat(ov, "after.raw")).ExitCode);
        CliResult.Run("img", "rebase", "-b", "before.raw", ov).AssertOneError(69, "cannot get a base image");
    }

    /// <summary>b0.raw ← m1.qcow2 ← t2.qcow2, made by qemu-img in <paramref name="prefix"/>.</summary>
    private (string B0, string T2) Chain(string prefix)
    {
        string b0 = Raw(prefix + "b0.raw", "4M", "write -P 0x10 0 4M");
        string m1 = _dir.File(prefix + "m1.qcow2"), t2 = _dir.File(prefix + "t2.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-b", prefix + "b0.raw", "-F", "raw", m1);
        QemuImg.Img("create", "-q", "-f", "qcow2", "-b", prefix + "m1.qcow2", "-F", "qcow2", t2);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", "-c", "write -z 3M 64k", m1);
        QemuImg.Run("qemu-io", "-f", "qcow2", "-c", "write -P 2 512k 1M", t2);
        return (b0, t2);
    }

    [Fact]
    public void Commit_b_writes_every_layer_above_the_base_into_it_as_qemu_img_does_and_keeps_the_top()
    {
        var (myBase, myTop) = Chain("my-");
        var (theirBase, theirTop) = Chain("their-");
        string before = _dir.File("before.raw");
        QemuImg.Img("convert", "-O", "raw", myTop, before);
        QemuImg.Img("commit", "-q", "-b", theirBase, theirTop);
        var r = CliResult.Run("img", "commit", "-p", "-b", myBase, myTop);
        r.AssertSuccess();
        Assert.StartsWith("    (0.00/100%)\r", r.Out);
        Assert.EndsWith("    (100.00/100%)\r\nImage committed.\n", r.Out);
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", myBase, theirBase).ExitCode);
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", myBase, before).ExitCode);
        // -b implies -d: the top still holds its own data.
        Assert.Contains("\"depth\": 0", QemuImg.Img("map", "--output", "json", myTop).Out);
        QemuImg.Img("check", myTop);
    }

    [Fact]
    public void Commit_refuses_a_base_outside_the_chain_and_a_bad_rate_limit_and_commits_under_a_rate_limit()
    {
        var (b0, t2) = Chain("");
        CliResult.Run("img", "commit", "-b", _dir.File("nothere.raw"), t2).AssertOneError(64, "Did not find");
        CliResult.Run("img", "commit", "-b", t2, t2).AssertOneError(64, "Did not find");
        CliResult.Run("img", "commit", "-r", "0", t2).AssertOneError(64, "rate limit");
        CliResult.Run("img", "commit", "-r", "1G", "-b", b0, t2).AssertSuccess();
        Assert.Equal(0, QemuImg.Run("qemu-io", "-f", "raw", "-c", "read -P 2 512k 1M", "-c", "read -P 0 3M 64k", b0).ExitCode);
    }
}
