using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>`minivm img snapshot (-l | -c NAME | -a NAME | -d NAME) FILE`: internal snapshots, like qemu-img snapshot.</summary>
internal static class ImgSnapshotCommand
{
    public static Command Create(CliContext context)
    {
        var list = new Option<bool>("-l", "--list") { Description = "list the snapshots" };
        var create = new Option<string?>("-c", "--create") { Description = "create a snapshot", HelpName = "NAME" };
        var apply = new Option<string?>("-a", "--apply") { Description = "revert the disk to a snapshot (id or name)", HelpName = "NAME" };
        var delete = new Option<string?>("-d", "--delete") { Description = "delete a snapshot (id or name)", HelpName = "NAME" };
        var format = CliOptions.Format();
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var file = CliOptions.File();
        var cmd = new Command("snapshot", "list, create, apply or delete internal snapshots") { list, create, apply, delete, format, unsafePaths, share, file };
        cmd.SetAction(parse =>
        {
            bool l = parse.GetValue(list);
            string? c = parse.GetValue(create), a = parse.GetValue(apply), d = parse.GetValue(delete);
            int chosen = (l ? 1 : 0) + (c is null ? 0 : 1) + (a is null ? 0 : 1) + (d is null ? 0 : 1);
            if (chosen != 1) throw CommandFailure.Usage("give exactly one of -l, -c NAME, -a NAME, -d NAME");
            string f = parse.GetRequiredValue(file);
            // Snapshot metadata lives in the top layer only; the backing chain is not needed (nor opened).
            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: l, parse.GetValue(unsafePaths), noBacking: true, parse.GetValue(share));
            if (image is not ISnapshotStore store)
                throw CommandFailure.Unsupported(f, $"format {image.FormatName} does not support internal snapshots");
            if (l)
            {
                var snapshots = store.ListSnapshots();
                context.Out.WriteLine("Snapshot list:");
                if (snapshots.Count > 0) SnapshotTable.Write(context, snapshots);
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
