using System.CommandLine;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img commit [-f FMT] [-d] FILE`, like qemu-img commit: what FILE's top layer holds (data and explicit
/// zeroes) is written into its backing file, which grows to FILE's size when shorter; then FILE is emptied so it
/// reads through to the backing again (-d keeps it as it is).
/// </summary>
internal static class ImgCommitCommand
{
    private const int ChunkSize = 1 << 20;

    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var keep = new Option<bool>("-d", "--keep") { Description = "do not empty FILE after the commit" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("commit", "write an overlay's changes into its backing file") { format, keep, unsafePaths, file };
        cmd.SetAction(parse => Run(context, parse.GetRequiredValue(file), parse.GetValue(format), parse.GetValue(keep), parse.GetValue(unsafePaths)));
        return cmd;
    }

    private static int Run(CliContext context, string file, string? format, bool keep, bool allowUnsafe)
    {
        using var top = ImageAccess.Open(context, file, format, readOnly: keep, allowUnsafe, noBacking: true);
        if (top is not IBackingImage { BackingFileName: { } backingName } link)
            throw CommandFailure.Unsupported(file, "image does not have a backing file");
        string basePath = ImagePaths.ResolveStoredName(top.FileName, backingName, allowUnsafe, "backing file");
        using (var baseImage = ImageAccess.Open(context, basePath, link.BackingFormat, readOnly: false, allowUnsafe))
        {
            if (baseImage.Size < top.Size)
            {
                if (baseImage is not IResizable resizable)
                    throw CommandFailure.Unsupported(basePath, $"the backing file ({baseImage.Size} bytes) is shorter than the image and its format {baseImage.FormatName} cannot grow");
                resizable.Resize(top.Size);
            }
            byte[] buffer = new byte[ChunkSize];
            ForEachPresentRun(top, (offset, length, kind) =>
            {
                if (kind == ExtentKind.Zero) { baseImage.WriteZeroes(offset, length); return; }
                for (long pos = offset, end = offset + length; pos < end;)
                {
                    int n = (int)Math.Min(ChunkSize, end - pos);
                    top.Read(pos, buffer.AsSpan(0, n));
                    baseImage.Write(pos, buffer.AsSpan(0, n));
                    pos += n;
                }
            });
            // The backing file holds the data durably before the overlay lets go of it.
            baseImage.Flush();
        }
        if (!keep)
        {
            ForEachPresentRun(top, (offset, length, _) => top.Discard(offset, length));
            top.Flush();
        }
        context.Out.WriteLine("Image committed.");
        return ExitCodes.Success;
    }

    /// <summary>The runs this layer itself holds (data or explicit zeroes), collected before any is changed.</summary>
    private static void ForEachPresentRun(IBlockDriver layer, Action<long, long, ExtentKind> action)
    {
        var runs = new List<Extent>();
        for (long off = 0; off < layer.Size;)
        {
            var e = layer.GetBlockStatus(off, layer.Size - off);
            long length = Math.Max(1, Math.Min(e.Length, layer.Size - off));
            if (e.Kind != ExtentKind.Unallocated) runs.Add(e with { Offset = off, Length = length });
            off += length;
        }
        foreach (var r in runs) action(r.Offset, r.Length, r.Kind);
    }
}
