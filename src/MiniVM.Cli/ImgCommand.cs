using System.CommandLine;

namespace MiniVM.Cli;

/// <summary>`minivm img ...`: offline image tools with qemu-img's names, options and exit codes.</summary>
public static class ImgCommand
{
    public static Command Create(CliContext context)
    {
        var img = new Command("img", "create, inspect, check, convert and benchmark disk images");
        img.Add(ImgCreateCommand.Create(context));
        img.Add(ImgInfoCommand.Create(context));
        img.Add(ImgCheckCommand.Create(context));
        img.Add(ImgSnapshotCommand.Create(context));
        img.Add(ImgConvertCommand.Create(context));
        img.Add(ImgCompareCommand.Create(context));
        img.Add(ImgMapCommand.Create(context));
        img.Add(ImgExploreCommand.Create(context));
        img.Add(ImgBenchCommand.Create(context));
        img.Add(ImgMetaCommand.Create(context));
        img.Add(ImgResizeCommand.Create(context));
        img.Add(ImgRebaseCommand.Create(context));
        img.Add(ImgCommitCommand.Create(context));
        img.Add(ImgMeasureCommand.Create(context));
        img.Add(ImgAmendCommand.Create(context));
        img.Add(ImgDdCommand.Create(context));
        img.Add(ImgPrefetchCommand.Create(context));
        return img;
    }
}
