using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img snapshot [-l [--png|--svg PICTURE] | -c NAME | -a NAME | -d NAME] FILE`: internal snapshots, like
/// qemu-img snapshot (no action lists, as there).
/// </summary>
internal static class ImgSnapshotCommand
{
    public static Command Create(CliContext context)
    {
        var list = new Option<bool>("-l", "--list") { Description = "list the snapshots" };
        var create = new Option<string?>("-c", "--create") { Description = "create a snapshot", HelpName = "NAME" };
        var apply = new Option<string?>("-a", "--apply") { Description = "revert the disk to a snapshot (id or name)", HelpName = "NAME" };
        var delete = new Option<string?>("-d", "--delete") { Description = "delete a snapshot (id or name)", HelpName = "NAME" };
        var png = new Option<string?>("--png") { Description = "with -l: draw the snapshot tree into a PNG file", HelpName = "PICTURE" };
        var svg = new Option<string?>("--svg") { Description = "with -l: draw the snapshot tree into an SVG file", HelpName = "PICTURE" };
        var format = CliOptions.Format();
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var file = CliOptions.File();
        var cmd = new Command("snapshot", "list, create, apply or delete internal snapshots") { list, create, apply, delete, png, svg, format, unsafePaths, share, file };
        cmd.SetAction(parse =>
        {
            bool l = parse.GetValue(list);
            string? c = parse.GetValue(create), a = parse.GetValue(apply), d = parse.GetValue(delete);
            int chosen = (l ? 1 : 0) + (c is null ? 0 : 1) + (a is null ? 0 : 1) + (d is null ? 0 : 1);
            if (chosen > 1) throw CommandFailure.Usage("give at most one of -l, -c NAME, -a NAME, -d NAME");
            l |= chosen == 0;
            string? pngFile = parse.GetValue(png), svgFile = parse.GetValue(svg);
            bool draw = pngFile is not null || svgFile is not null;
            if (draw && !l) throw CommandFailure.Usage("--png and --svg draw the snapshot list: give them with -l");
            PictureFile.CheckName(pngFile);
            PictureFile.CheckName(svgFile);
            string f = parse.GetRequiredValue(file);
            // Snapshot metadata lives in the top layer only; the backing chain is opened only for a picture, whose
            // colours and owned sizes are those of the map of the whole chain.
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: l, parse.GetValue(unsafePaths), noBacking: !draw, parse.GetValue(share));
            if (image is not ISnapshotStore store)
                throw CommandFailure.Unsupported(f, $"format {image.FormatName} does not support internal snapshots");
            if (l)
            {
                var snapshots = store.ListSnapshots();
                context.Out.WriteLine("Snapshot list:");
                if (snapshots.Count > 0) SnapshotTable.Write(context, snapshots);
                if (draw)
                {
                    var owners = MapOwners.Of(image);
                    var map = AllocationMap.Of(new ImageChain(image), owners, MapPicture.MaxCells);
                    var roots = StateGraph.Of(image, owners, map);
                    var picture = TreePicture.Draw(roots, owners, $"{Path.GetFileName(f)}: {image.FormatName} states");
                    if (pngFile is not null) PictureFile.Write(context, picture, pngFile, svg: false, $"snapshot tree of {f}");
                    if (svgFile is not null) PictureFile.Write(context, picture, svgFile, svg: true, $"snapshot tree of {f}");
                }
                return ExitCodes.Success;
            }
            if (c is not null)
            {
                if (c.Length == 0) throw CommandFailure.Usage("snapshot name is empty");
                foreach (var s in store.ListSnapshots())
                    if (s.Name == c) throw new ImageFormatException(f, $"a snapshot named '{c}' already exists");
                store.CreateSnapshot(c);
            }
            else if (a is not null) store.RevertToSnapshot(a);
            else store.DeleteSnapshot(d!);
            image.Flush();
            return ExitCodes.Success;
        });
        return cmd;
    }
}
