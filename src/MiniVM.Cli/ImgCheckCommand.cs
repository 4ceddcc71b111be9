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
        if (final.TotalClusters > 0)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{final.AllocatedClusters}/{final.TotalClusters} = {100.0 * final.AllocatedClusters / final.TotalClusters:0.00}% allocated"));
    }

    private static void WriteJson(CliContext context, string file, string format, CheckResult first, CheckResult final)
    {
        context.Out.WriteLine(JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("filename", file);
            w.WriteString("format", format);
            w.WriteBoolean("check-errors", false);
            w.WriteNumber("corruptions", final.Corruptions);
            w.WriteNumber("leaks", final.Leaks);
            w.WriteNumber("corruptions-fixed", first.CorruptionsFixed);
            w.WriteNumber("leaks-fixed", first.LeaksFixed);
            w.WriteNumber("allocated-clusters", final.AllocatedClusters);
            w.WriteNumber("total-clusters", final.TotalClusters);
            w.WriteStartArray("messages");
            foreach (var m in first.Messages) w.WriteStringValue(m);
            w.WriteEndArray();
            w.WriteEndObject();
        }));
    }
}
