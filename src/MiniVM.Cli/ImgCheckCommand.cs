using System.CommandLine;
using System.Globalization;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img check [-r leaks|all] [--output human|json] FILE` with qemu-img's exit codes:
/// 0 clean, 2 corruption, 3 leaks only, 1 check could not run, 63 the format has no check.
/// </summary>
internal static class ImgCheckCommand
{
    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var output = CliOptions.Output();
        var repair = new Option<string?>("-r", "--repair") { Description = "repair leaks only, or all errors", HelpName = "leaks|all" };
        repair.AcceptOnlyFromAmong("leaks", "all");
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var share = CliOptions.ForceShare();
        var file = CliOptions.File();
        var cmd = new Command("check", "check an image's metadata for corruption and leaks") { format, output, repair, unsafePaths, share, file };
        cmd.SetAction(parse =>
        {
            try
            {
                return Run(context, parse.GetRequiredValue(file), parse.GetValue(format), parse.GetRequiredValue(output),
                    parse.GetValue(repair), parse.GetValue(unsafePaths), parse.GetValue(share));
            }
            catch (Exception e)
            {
                // qemu-img: any failure to complete the check is exit code 1.
                MiniVmCli.Report(e, context.Err);
                return ExitCodes.Failure;
            }
        });
        return cmd;
    }

    private static int Run(CliContext context, string file, string? format, string output, string? repairText, bool allowUnsafe, bool forceShare)
    {
        var mode = repairText switch { "leaks" => RepairMode.Leaks, "all" => RepairMode.All, _ => RepairMode.None };
        using var image = ImageAccess.Open(context, file, format, readOnly: mode == RepairMode.None, allowUnsafe, noBacking: true, forceShare);
        if (image is not IImageCheck checker)
        {
            context.Err.WriteLine($"minivm: {file}: format {image.FormatName} does not support checks");
            return ExitCodes.CheckUnsupported;
        }
        var first = checker.Check(mode);
        var final = first;
        if (first.CorruptionsFixed > 0 || first.LeaksFixed > 0)
        {
            // As qemu-img: after a repair, the verdict comes from a fresh check of the repaired image.
            image.Flush();
            final = checker.Check(RepairMode.None);
        }
        if (output == "json") WriteJson(context, file, image.FormatName, first, final);
        else WriteHuman(context, first, final);
        return final.Corruptions > 0 ? ExitCodes.Corruption : final.Leaks > 0 ? ExitCodes.LeaksOnly : ExitCodes.Success;
    }

    private static void WriteHuman(CliContext context, CheckResult first, CheckResult final)
    {
        var o = context.Out;
        foreach (var m in first.Messages) o.WriteLine(m);
        if (first.CorruptionsFixed > 0 || first.LeaksFixed > 0)
        {
            o.WriteLine("The following inconsistencies were found and repaired:");
            o.WriteLine();
            o.WriteLine($"    {first.LeaksFixed} leaked clusters");
            o.WriteLine($"    {first.CorruptionsFixed} corruptions");
            o.WriteLine();
            o.WriteLine("Double checking the fixed image now...");
            foreach (var m in final.Messages) o.WriteLine(m);
        }
        if (final.IsClean) o.WriteLine("No errors were found on the image.");
        if (final.Corruptions > 0)
        {
            o.WriteLine();
            o.WriteLine($"{final.Corruptions} errors were found on the image.");
            o.WriteLine("Data may be corrupted, or further writes to the image may corrupt it.");
        }
        if (final.Leaks > 0)
        {
            o.WriteLine();
            o.WriteLine($"{final.Leaks} leaked clusters were found on the image.");
            o.WriteLine("This means waste of disk space, but no harm to data.");
        }
        // qemu-img's dump_human_image_check: the fragmentation line only when something is allocated.
        if (final.TotalClusters > 0 && final.AllocatedClusters > 0)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{final.AllocatedClusters}/{final.TotalClusters} = {100.0 * final.AllocatedClusters / final.TotalClusters:0.00}% allocated, " +
                $"{100.0 * final.FragmentedClusters / final.AllocatedClusters:0.00}% fragmented, " +
                $"{100.0 * final.CompressedClusters / final.AllocatedClusters:0.00}% compressed clusters"));
        if (final.ImageEndOffset > 0) o.WriteLine($"Image end offset: {final.ImageEndOffset}");
    }

    /// <summary>
    /// qemu-img's ImageCheck keys: counts that are zero are left out, as qemu-img leaves them out; `messages`
    /// (what was found, one line each) is MiniVM's extra and appears only when there is something to say.
    /// </summary>
    private static void WriteJson(CliContext context, string file, string format, CheckResult first, CheckResult final)
    {
        context.Out.WriteLine(JsonText.Write(w =>
        {
            void Count(string key, long value) { if (value != 0) w.WriteNumber(key, value); }
            w.WriteStartObject();
            w.WriteString("filename", file);
            w.WriteString("format", format);
            w.WriteNumber("check-errors", 0);
            Count("corruptions", final.Corruptions);
            Count("leaks", final.Leaks);
            Count("corruptions-fixed", first.CorruptionsFixed);
            Count("leaks-fixed", first.LeaksFixed);
            Count("image-end-offset", final.ImageEndOffset);
            Count("total-clusters", final.TotalClusters);
            Count("allocated-clusters", final.AllocatedClusters);
            Count("fragmented-clusters", final.FragmentedClusters);
            Count("compressed-clusters", final.CompressedClusters);
            if (first.Messages.Count > 0)
            {
                w.WriteStartArray("messages");
                foreach (var m in first.Messages) w.WriteStringValue(m);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }));
    }
}
