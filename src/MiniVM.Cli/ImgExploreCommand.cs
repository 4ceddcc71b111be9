using System.CommandLine;
using System.Text;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img explore [-f FMT] -o PAGE.html FILE`: one self-contained HTML page with the image's states and the map
/// of its current view (<see cref="ExplorerPage"/>), for every format and backing chain.
/// </summary>
internal static class ImgExploreCommand
{
    public static Command Create(CliContext context)
    {
        var output = new Option<string>("-o", "--output-file")
        {
            Description = "the HTML page to write (self-contained: opens without network)", HelpName = "PAGE", Required = true,
        };
        var format = CliOptions.Format();
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("explore", "write an HTML page showing an image's states and which of them owns each cluster")
            { output, format, unsafePaths, file };
        cmd.SetAction(parse =>
        {
            string f = parse.GetRequiredValue(file), page = parse.GetRequiredValue(output);
            PictureFile.CheckName(page);
            bool allowUnsafe = parse.GetValue(unsafePaths);
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: true, allowUnsafe);
            var owners = MapOwners.Of(image);
            var map = AllocationMap.Of(new ImageChain(image), owners, MapPicture.MaxCells);
            var roots = StateGraph.Of(image, owners, map);
            string html = ExplorerPage.Build($"{Path.GetFileName(f)}: {image.FormatName}, {QemuSize.Format(image.Size)}", map, owners, roots);
            byte[] bytes = new UTF8Encoding(false).GetBytes(html);
            File.WriteAllBytes(page, bytes);
            context.Out.WriteLine($"explorer page of {f} written to {page} ({bytes.Length} bytes)");
            return ExitCodes.Success;
        });
        return cmd;
    }
}
