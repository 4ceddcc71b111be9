using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>`minivm img info [--backing-chain] [--output human|json] FILE`, laid out like qemu-img info.</summary>
internal static class ImgInfoCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var output = CliOptions.Output();
        var chain = new Option<bool>("--backing-chain") { Description = "show every image of the backing chain" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var file = CliOptions.File();
        var cmd = new Command("info", "show an image's format, sizes, backing file and snapshots") { format, output, chain, unsafePaths, share, file };
        cmd.SetAction(parse => Run(context, parse.GetRequiredValue(file), parse.GetValue(format), parse.GetRequiredValue(output),
            parse.GetValue(chain), parse.GetValue(unsafePaths), parse.GetValue(share)));
        return cmd;
    }

    private static int Run(CliContext context, string file, string? format, string output, bool backingChain, bool allowUnsafe, bool forceShare)
    {
        var reports = Collect(context, file, format, backingChain, allowUnsafe, forceShare);
        if (output == "json")
        {
            context.Out.WriteLine(backingChain ? Json(reports) : Json(reports[0]));
            return ExitCodes.Success;
        }
        for (int i = 0; i < reports.Count; i++)
        {
            if (i > 0) context.Out.WriteLine();
            WriteHuman(context, reports[i]);
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// Opens each layer on its own (no backing), like qemu-img: info of an overlay works even when its backing
    /// file is missing, and --backing-chain follows the stored names with the same path rules as an open.
    /// </summary>
    private static List<ImageReport> Collect(CliContext context, string file, string? format, bool backingChain, bool allowUnsafe, bool forceShare)
    {
        var reports = new List<ImageReport>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? path = file, fmt = format, display = file;
        while (path is not null)
        {
            if (!seen.Add(Path.GetFullPath(path)) || reports.Count > ImageOpenContext.MaxChainDepth)
                throw new ImageFormatException(file, $"backing chain through '{path}' is a cycle or deeper than {ImageOpenContext.MaxChainDepth}");
            using var image = ImageAccess.Open(context, path, fmt, readOnly: true, allowUnsafe, noBacking: true, forceShare);
            var report = ImageReport.Of(image, display!);
            reports.Add(report);
            if (!backingChain || report.BackingFileName is null) break;
            path = ImagePaths.ResolveBackingName(image.FileName, report.BackingFileName, allowUnsafe);
            display = report.FullBackingFileName;
            fmt = report.BackingFormat;
        }
        return reports;
    }

    private static void WriteHuman(CliContext context, ImageReport r)
    {
        var o = context.Out;
        o.WriteLine($"image: {r.FileName}");
        o.WriteLine($"file format: {r.Format}");
        o.WriteLine($"virtual size: {QemuSize.Format(r.VirtualSize)} ({r.VirtualSize} bytes)");
        o.WriteLine($"disk size: {QemuSize.Format(r.ActualSize)}");
        if (r.ClusterSize > 0) o.WriteLine($"cluster_size: {r.ClusterSize}");
        if (r.BackingFileName is not null)
        {
            o.WriteLine(r.FullBackingFileName is not null && r.FullBackingFileName != r.BackingFileName
                ? $"backing file: {r.BackingFileName} (actual path: {r.FullBackingFileName})"
                : $"backing file: {r.BackingFileName}");
            if (r.BackingFormat is not null) o.WriteLine($"backing file format: {r.BackingFormat}");
        }
        if (r.Snapshots.Count > 0)
        {
            o.WriteLine("Snapshot list:");
            SnapshotTable.Write(context, r.Snapshots);
        }
        if (r.Tree is not null && r.Snapshots.Count > 0)
        {
            o.WriteLine("Snapshot tree:");
            r.Tree.WriteHuman(o);
        }
        if (r.IsDirty) o.WriteLine("cleanly shut down: no");
        if (r.FormatSpecific.Count > 0)
        {
            o.WriteLine("Format specific information:");
            foreach (var (k, v) in r.FormatSpecific) o.WriteLine($"    {k}: {v}");
        }
    }

    private static string Json(IReadOnlyList<ImageReport> reports) => JsonText.Write(w =>
    {
        w.WriteStartArray();
        foreach (var r in reports) WriteJson(w, r);
        w.WriteEndArray();
    });

    private static string Json(ImageReport report) => JsonText.Write(w => WriteJson(w, report));

    /// <summary>
    /// qemu-img's ImageInfo keys and types (docs/cli.md): optional keys appear only when they have something to say, as
    /// in qemu-img, so raw and qcow2 print what qemu-img prints. MiniVM's extras: `files` for multi-file formats and
    /// `snapshot-tree` for formats whose snapshots form a tree.
    /// </summary>
    private static void WriteJson(Utf8JsonWriter w, ImageReport r)
    {
        w.WriteStartObject();
        w.WriteString("filename", r.FileName);
        w.WriteString("format", r.Format);
        w.WriteNumber("virtual-size", r.VirtualSize);
        w.WriteNumber("actual-size", r.ActualSize);
        if (r.ClusterSize > 0) w.WriteNumber("cluster-size", r.ClusterSize);
        w.WriteBoolean("dirty-flag", r.IsDirty);
        if (r.BackingFileName is not null)
        {
            w.WriteString("backing-filename", r.BackingFileName);
            if (r.FullBackingFileName is not null) w.WriteString("full-backing-filename", r.FullBackingFileName);
            if (r.BackingFormat is not null) w.WriteString("backing-filename-format", r.BackingFormat);
        }
        if (r.Snapshots.Count > 0)
        {
            w.WriteStartArray("snapshots");
            foreach (var s in r.Snapshots) SnapshotTable.WriteJson(w, s);
            w.WriteEndArray();
        }
        r.Tree?.WriteJson(w, "snapshot-tree");
        if (r.Files.Count != 1 || r.Files[0] != r.FileName && Path.GetFullPath(r.Files[0]) != Path.GetFullPath(r.FileName))
        {
            w.WriteStartArray("files");
            foreach (var f in r.Files) w.WriteStringValue(f);
            w.WriteEndArray();
        }
        if (r.FormatSpecific.Count > 0)
        {
            w.WriteStartObject("format-specific");
            w.WriteString("type", r.Format);
            w.WriteStartObject("data");
            foreach (var (k, v) in r.FormatSpecific) FormatSpecificJson.Write(w, k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
