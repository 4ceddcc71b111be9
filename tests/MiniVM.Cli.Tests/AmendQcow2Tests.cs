using System.Text.Json;

namespace MiniVM.Cli.Tests;

/// <summary>
/// `img amend -o compat=…,refcount_bits=…` on qcow2, with the real qemu-img as referee: after every amend `qemu-img
/// check` finds no error, `qemu-img compare` finds the disk and the snapshot unchanged and `qemu-img info` shows the new
/// version and width; what qemu-img refuses, minivm refuses with the same message and leaves the file as it was.
/// </summary>
public sealed class AmendQcow2Tests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Data, zero clusters (with and without a host cluster) and a snapshot that shares clusters with the disk.</summary>
    private string Image(string name, string? backing = null)
    {
        string f = _dir.File(name);
        if (backing is null) QemuImg.Img("create", "-q", "-f", "qcow2", f, "4M");
        else QemuImg.Img("create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", f);
        Io(f, "write -P 1 0 200k", "write -z 1M 128k", "write -P 3 2M 64k", "write -z 2M 64k");
        QemuImg.Img("snapshot", "-c", "s1", f);
        Io(f, "write -P 5 0 64k", "write -z 3M 64k", "write -P 7 3200k 4k");
        return f;
    }

    private static void Io(string file, params string[] commands)
    {
        var r = QemuImg.Run("qemu-io", ["-f", "qcow2", .. commands.SelectMany(c => new[] { "-c", c }), file]);
        Assert.True(r.ExitCode == 0, r.Err);
    }

    private string Flat(string image, string name, string? snapshot = null)
    {
        string f = _dir.File(name);
        string[] snap = snapshot is null ? [] : ["-l", "snapshot.name=" + snapshot];
        QemuImg.Img(["convert", "-f", "qcow2", .. snap, "-O", "raw", image, f]);
        return f;
    }

    private static void AssertCleanAndEqual(string image, string disk, string snapshot, string step)
    {
        var check = QemuImg.Run("qemu-img", "check", image);
        Assert.True(check.ExitCode == 0 && check.Out.Contains("No errors were found on the image."), $"{step}: {check.Out}{check.Err}");
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", disk, image).ExitCode);
        string now = Path.ChangeExtension(image, ".snap.raw");
        QemuImg.Img("convert", "-f", "qcow2", "-l", "snapshot.name=s1", "-O", "raw", image, now);
        Assert.True(File.ReadAllBytes(snapshot).AsSpan().SequenceEqual(File.ReadAllBytes(now)), $"{step}: snapshot s1 changed");
        File.Delete(now);
    }

    private static (string Compat, int RefcountBits) Info(string image)
    {
        var data = JsonDocument.Parse(QemuImg.Img("info", "--output", "json", image).Out).RootElement
            .GetProperty("format-specific").GetProperty("data");
        return (data.GetProperty("compat").GetString()!, data.GetProperty("refcount-bits").GetInt32());
    }

    [Fact]
    public void Compat_and_refcount_bits_change_and_qemu_img_finds_the_image_clean_and_equal()
    {
        string image = Image("a.qcow2");
        string disk = Flat(image, "disk.raw"), snapshot = Flat(image, "s1.raw", "s1");
        foreach (var (options, compat, bits) in new[]
        {
            ("refcount_bits=2", "1.1", 2), ("refcount_bits=64", "1.1", 64), ("compat=0.10,refcount_bits=16", "0.10", 16),
            ("compat=1.1", "1.1", 16), ("refcount_bits=4", "1.1", 4), ("refcount_bits=16,compat=0.10", "0.10", 16),
            ("compat=1.1,refcount_bits=8", "1.1", 8),
        })
        {
            CliResult.Run("img", "amend", "-o", options, image).AssertSuccess();
            Assert.Equal((compat, bits), Info(image));
            AssertCleanAndEqual(image, disk, snapshot, options);
        }
        // Still writable by minivm afterwards, and qemu-img agrees on what was written.
        CliResult.Run("io", "-c", "write -P 9 1M 70k", image).AssertSuccess();
        Io(image, "read -P 9 1M 70k");
    }

    [Fact]
    public void A_downgrade_turns_zero_clusters_into_what_they_read_as_over_a_backing_file()
    {
        string baseRaw = _dir.File("base.raw");
        File.WriteAllBytes(baseRaw, Enumerable.Repeat((byte)0xEE, 4 << 20).ToArray());
        string ours = Image("ours.qcow2", baseRaw), theirs = _dir.File("theirs.qcow2");
        File.Copy(ours, theirs);
        string disk = Flat(ours, "disk.raw"), snapshot = Flat(ours, "s1.raw", "s1");
        CliResult.Run("img", "amend", "-o", "compat=0.10", ours).AssertSuccess();
        QemuImg.Img("amend", "-o", "compat=0.10", theirs);
        Assert.Equal(("0.10", 16), Info(ours));
        AssertCleanAndEqual(ours, disk, snapshot, "downgrade over a backing file");
        Assert.Equal(0, QemuImg.Run("qemu-img", "compare", "-s", theirs, ours).ExitCode);
        CliResult.Run("img", "amend", "-o", "compat=1.1", ours).AssertSuccess();
        AssertCleanAndEqual(ours, disk, snapshot, "upgrade again");
    }

    [Fact]
    public void What_qemu_img_refuses_minivm_refuses_with_its_message_and_the_file_stays()
    {
        string shared = Image("shared.qcow2");
        string narrow = _dir.File("narrow.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=8", narrow, "1M");
        string resized = _dir.File("resized.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", resized, "1M");
        QemuImg.Img("snapshot", "-c", "s", resized);
        QemuImg.Img("resize", "-q", resized, "2M");
        string v2 = _dir.File("v2.qcow2");
        QemuImg.Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M");
        foreach (var (image, options, exit) in new[]
        {
            (shared, "refcount_bits=1", 69), (narrow, "compat=0.10", 69), (resized, "compat=0.10", 69),
            (v2, "refcount_bits=8", 64), (v2, "refcount_bits=3", 64), (v2, "compat=0.11", 64), (narrow, "compat=0.10,refcount_bits=8", 69),
        })
        {
            string copy = image + ".qemu";
            File.Copy(image, copy, overwrite: true);
            var theirs = QemuImg.Run("qemu-img", "amend", "-o", options, copy);
            Assert.Equal(1, theirs.ExitCode);
            string message = theirs.Err.Trim().Replace("qemu-img: ", "");
            byte[] before = File.ReadAllBytes(image);
            var ours = CliResult.Run("img", "amend", "-o", options, image);
            ours.AssertOneError(exit, message);
            Assert.EndsWith(message, ours.Err.Trim());
            Assert.True(before.AsSpan().SequenceEqual(File.ReadAllBytes(image)), $"{options}: the file changed");
        }
    }
}
