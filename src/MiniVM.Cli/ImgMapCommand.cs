using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text;
using System.Text.Json;
using MiniVM.Block;
using Spectre.Console;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img map [--output human|json] [--png PICTURE] FILE`: which guest ranges are allocated, in which layer and
/// file; with --png, the same as a picture (<see cref="MapPicture"/>).
/// </summary>
internal static class ImgMapCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var output = CliOptions.Output();
        var start = new Option<string?>("--start-offset") { Description = "first guest offset to map", HelpName = "OFFSET" };
        var maxLength = new Option<string?>("--max-length") { Description = "map at most this many bytes", HelpName = "LENGTH" };
        var png = new Option<string?>("--png") { Description = "draw the allocation (one cell per cluster, coloured by owner) into a PNG file", HelpName = "PICTURE" };
        var svg = new Option<string?>("--svg") { Description = "draw the same picture as --png into an SVG file", HelpName = "PICTURE" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var file = CliOptions.File();
        var cmd = new Command("map", "show where each guest range of an image and its backing chain is stored")
            { format, output, start, maxLength, png, svg, unsafePaths, share, file };
        cmd.SetAction(parse =>
        {
            string f = parse.GetRequiredValue(file);
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: true, parse.GetValue(unsafePaths), forceShare: parse.GetValue(share));
            string? pngFile = parse.GetValue(png), svgFile = parse.GetValue(svg);
            if (pngFile is not null || svgFile is not null)
            {
                if (parse.GetValue(start) is not null || parse.GetValue(maxLength) is not null)
                    throw CommandFailure.Usage("--png and --svg draw the whole image; they take no --start-offset or --max-length");
                PictureFile.CheckName(pngFile);
                PictureFile.CheckName(svgFile);
                var owners = MapOwners.Of(image);
                var map = AllocationMap.Of(new ImageChain(image), owners, MapPicture.MaxCells);
                var picture = MapPicture.Draw(map, owners, $"{Path.GetFileName(f)}: {image.FormatName}, {QemuSize.Format(image.Size)}");
                if (pngFile is not null) PictureFile.Write(context, picture, pngFile, svg: false, $"map of {f}");
                if (svgFile is not null) PictureFile.Write(context, picture, svgFile, svg: true, $"map of {f}");
                return ExitCodes.Success;
            }
            long from = parse.GetValue(start) is { } s ? CliNumbers.Size(s, "start offset") : 0;
            long end = image.Size;
            if (from > end) throw CommandFailure.Usage($"start offset {from} is beyond the image size {end}");
            if (parse.GetValue(maxLength) is { } m) end = Math.Min(end, from + CliNumbers.Size(m, "max length"));
            var runs = Runs(new ImageChain(image), from, end);
            if (parse.GetRequiredValue(output) == "json") context.Out.WriteLine(Json(runs));
            else WriteHuman(context, runs);
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>The chain's runs from <paramref name="from"/> to <paramref name="end"/>, neighbours with one state merged.</summary>
    public static List<ChainExtent> Runs(ImageChain chain, long from, long end)
    {
        var runs = new List<ChainExtent>();
        for (long off = from; off < end;)
        {
            var r = chain.Status(off, end - off);
            if (runs.Count > 0 && Continues(runs[^1], r))
                runs[^1] = runs[^1] with { Length = runs[^1].Length + r.Length };
            else runs.Add(r);
            off += r.Length;
        }
        return runs;
    }

    private static bool Continues(ChainExtent a, ChainExtent b) =>
        a.Depth == b.Depth && a.Kind == b.Kind && a.File == b.File &&
        (a.HostOffset < 0 ? b.HostOffset < 0 : b.HostOffset == a.HostOffset + a.Length);

    /// <summary>qemu-img's human map: only ranges with data, with where they live.</summary>
    private static void WriteHuman(CliContext context, List<ChainExtent> runs)
    {
        var table = context.CreateTable("Offset", "Length", "Mapped to", "File");
        foreach (var r in runs)
        {
            if (r.Kind != ExtentKind.Data) continue;
            table.AddRow(new Text(Hex(r.Offset)), new Text(Hex(r.Length)),
                new Text(r.HostOffset >= 0 ? Hex(r.HostOffset) : "-"), new Text(r.File ?? "-"));
        }
        context.CreateConsole().Write(table);
    }

    /// <summary>printf's "%#x": 0 stays "0", as in qemu-img's map.</summary>
    private static string Hex(long v) => v == 0 ? "0" : CliNumbers.Hex(v);

    /// <summary>qemu-img's JSON map, byte for byte in its layout (one object per line), plus "file" for data.</summary>
    private static string Json(List<ChainExtent> runs)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < runs.Count; i++)
        {
            var r = runs[i];
            if (i > 0) sb.Append(",\n");
            sb.Append(CultureInfo.InvariantCulture,
                $"{{ \"start\": {r.Offset}, \"length\": {r.Length}, \"depth\": {r.Depth}, \"present\": {Bool(r.Present)}, \"zero\": {Bool(r.Zero)}, \"data\": {Bool(r.Kind == ExtentKind.Data)}");
            if (r.HostOffset >= 0) sb.Append(CultureInfo.InvariantCulture, $", \"offset\": {r.HostOffset}");
            if (r.Kind == ExtentKind.Data && r.File is not null)
                sb.Append(", \"file\": \"").Append(JsonEncodedText.Encode(r.File, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value).Append('"');
            sb.Append('}');
        }
        return sb.Append(']').ToString();
    }

    private static string Bool(bool b) => b ? "true" : "false";
}
