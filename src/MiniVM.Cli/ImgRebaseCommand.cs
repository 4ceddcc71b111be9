using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img rebase [-f FMT] [-u] -b BACKING [-F BFMT] FILE`, like qemu-img rebase: FILE's backing link becomes
/// BACKING ("" for none). Safe mode (the default) first copies into FILE every run it leaves to its backing where the
/// old and new backing chains differ, so FILE reads the same afterwards; -u (unsafe) only rewrites the link, as for a
/// backing file that was moved or renamed.
/// </summary>
internal static class ImgRebaseCommand
{
    private const int ChunkSize = 64 * 1024;

    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var backing = new Option<string>("-b", "--backing") { Description = "the new backing file, as stored in FILE (\"\" for none)", HelpName = "BACKING", Required = true };
        var backingFormat = new Option<string?>("-F", "--backing-format") { Description = "format of BACKING (probed when omitted)", HelpName = "BFMT" };
        var unsafeMode = new Option<bool>("-u", "--unsafe") { Description = "only rewrite the link; the old backing file is not read" };
        var progress = new Option<bool>("-p", "--progress") { Description = "show progress" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("rebase", "change the backing file of an image") { format, backing, backingFormat, unsafeMode, progress, unsafePaths, file };
        cmd.SetAction(parse => Run(context, parse.GetRequiredValue(file), parse.GetValue(format), parse.GetRequiredValue(backing),
            parse.GetValue(backingFormat), parse.GetValue(unsafeMode), parse.GetValue(progress), parse.GetValue(unsafePaths)));
        return cmd;
    }

    private static int Run(CliContext context, string file, string? format, string backing, string? backingFormat, bool unsafeMode, bool showProgress, bool allowUnsafe)
    {
        if (backingFormat is not null) ImageAccess.Format(context, backingFormat);
        if (backing.Length == 0 && backingFormat is not null) throw CommandFailure.Usage("-F names the format of a backing file, and -b \"\" removes it");
        // The old chain is read in safe mode only: -u exists for links that no longer resolve.
        using var image = ImageAccess.Open(context, file, format, readOnly: false, allowUnsafe, noBacking: unsafeMode);
        if (image is not IBackingLink link)
            throw CommandFailure.Unsupported(file, $"format {image.FormatName} cannot change its backing file");
        IBlockDriver? newBacking = null;
        try
        {
            string? storedFormat = null;
            if (backing.Length > 0)
            {
                string path = ImagePaths.ResolveStoredName(file, backing, allowUnsafe, "backing file");
                if (unsafeMode && backingFormat is not null && !File.Exists(path)) storedFormat = backingFormat;
                else
                {
                    if (unsafeMode && !File.Exists(path))
                        throw CommandFailure.Usage($"{backing}: the new backing file cannot be opened, so its format must be given with -F");
                    newBacking = ImageAccess.Open(context, path, backingFormat, readOnly: true, allowUnsafe);
                    storedFormat = backingFormat ?? newBacking.FormatName;
                }
            }
            var progress = new QemuProgress(context.Out, showProgress);
            if (!unsafeMode) KeepContent(image, newBacking, progress);
            link.SetBackingFile(backing.Length == 0 ? null : backing, storedFormat);
            image.Flush();
            progress.End();
        }
        finally { newBacking?.Dispose(); }
        return ExitCodes.Success;
    }

    /// <summary>
    /// Every run FILE leaves unallocated reads from the old chain now and from <paramref name="newBacking"/> after the
    /// rebase: chunks where the two differ get the old bytes written into FILE.
    /// </summary>
    private static void KeepContent(IBlockDriver image, IBlockDriver? newBacking, QemuProgress progress)
    {
        byte[] old = new byte[ChunkSize], now = new byte[ChunkSize];
        for (long off = 0; off < image.Size;)
        {
            var e = image.GetBlockStatus(off, image.Size - off);
            long end = off + Math.Max(1, Math.Min(e.Length, image.Size - off));
            if (e.Kind == ExtentKind.Unallocated)
                for (long pos = off; pos < end;)
                {
                    int n = (int)Math.Min(ChunkSize - pos % ChunkSize, end - pos);
                    image.Read(pos, old.AsSpan(0, n));
                    ReadClipped(newBacking, pos, now.AsSpan(0, n));
                    if (!old.AsSpan(0, n).SequenceEqual(now.AsSpan(0, n))) image.Write(pos, old.AsSpan(0, n));
                    pos += n;
                }
            off = end;
            progress.Report(off, image.Size);
        }
    }

    /// <summary>A backing image reads as zeroes past its end, and no backing at all as zeroes throughout.</summary>
    private static void ReadClipped(IBlockDriver? image, long offset, Span<byte> buffer)
    {
        buffer.Clear();
        if (image is null || offset >= image.Size) return;
        image.Read(offset, buffer[..(int)Math.Min(buffer.Length, image.Size - offset)]);
    }
}
