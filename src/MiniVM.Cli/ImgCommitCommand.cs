using System.CommandLine;
using System.Diagnostics;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img commit [-f FMT] [-b BASE] [-d] [-p] [-r RATE] FILE`, like qemu-img commit: what the layers above the
/// base hold (data and explicit zeroes) is written into the base, which grows to FILE's size when shorter; then FILE
/// is emptied so it reads through to the base again (-d keeps it as it is). The base is FILE's backing file, or with
/// -b any deeper image of its chain; -b implies -d, because the layers between would no longer read right under an
/// emptied FILE (qemu-img's rule). -p prints qemu-img's progress line, -r limits the bytes written per second.
/// </summary>
internal static class ImgCommitCommand
{
    private const int ChunkSize = 1 << 20;

    public static Command Create(CliContext context)
    {
        var format = CliOptions.Format();
        var keep = new Option<bool>("-d", "--keep") { Description = "do not empty FILE after the commit" };
        var baseOption = new Option<string?>("-b", "--base") { Description = "commit into this image of FILE's backing chain (implies -d)", HelpName = "BASE" };
        var progress = new Option<bool>("-p", "--progress") { Description = "show progress" };
        var rate = new Option<string?>("-r", "--rate-limit") { Description = "at most this many bytes written per second (K/M/G suffixes)", HelpName = "RATE" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("commit", "write an overlay's changes into its backing file") { format, keep, baseOption, progress, rate, unsafePaths, file };
        cmd.SetAction(parse =>
        {
            long? limit = null;
            if (parse.GetValue(rate) is { } r)
            {
                limit = CliNumbers.Size(r, "rate limit");
                if (limit <= 0) throw CommandFailure.Usage($"rate limit '{r}' must be greater than zero");
            }
            return Run(context, parse.GetRequiredValue(file), parse.GetValue(format), parse.GetValue(keep), parse.GetValue(baseOption),
                parse.GetValue(progress), limit, parse.GetValue(unsafePaths));
        });
        return cmd;
    }

    private static int Run(CliContext context, string file, string? format, bool keep, string? baseName, bool showProgress, long? rateLimit, bool allowUnsafe)
    {
        keep |= baseName is not null;
        // One open of the chain, as QEMU's commit job is one block graph: the base the chain holds read-only is then
        // reopened for writing by the same holder, not refused as a second user of the image.
        using var chainOpen = ImageLock.OpenScope();
        using var top = ImageAccess.Open(context, file, format, readOnly: keep, allowUnsafe);
        // The chain top-down: FILE, its backing, the backing's backing, ...
        var chain = new List<IBlockDriver> { top };
        while (chain[^1] is IBackingImage { Backing: { } below }) chain.Add(below);
        int baseIndex;
        if (baseName is null)
        {
            if (chain.Count < 2) throw CommandFailure.Unsupported(file, "image does not have a backing file");
            baseIndex = 1;
        }
        else
        {
            string wanted = Path.GetFullPath(baseName);
            baseIndex = chain.FindIndex(1, l => Path.GetFullPath(l.FileName) == wanted);
            if (baseIndex < 0) throw CommandFailure.Usage($"Did not find '{baseName}' in the backing chain of '{file}'");
        }
        string basePath = chain[baseIndex].FileName;
        var runs = PresentRuns(chain.Take(baseIndex));
        long total = runs.Sum(r => r.Length);
        var progress = new QemuProgress(context.Out, showProgress);
        var pace = new Pace(rateLimit);
        using (var baseImage = ImageAccess.Open(context, basePath, chain[baseIndex].FormatName, readOnly: false, allowUnsafe))
        {
            if (baseImage.Size < top.Size)
            {
                if (baseImage is not IResizable)
                    throw CommandFailure.Unsupported(basePath, $"the backing file ({baseImage.Size} bytes) is shorter than the image and its format {baseImage.FormatName} cannot grow");
                ImageGrowth.Resize(baseImage, basePath, top.Size);
            }
            byte[] buffer = new byte[ChunkSize];
            long done = 0;
            foreach (var (offset, length) in runs)
                for (long pos = offset, end = offset + length; pos < end;)
                {
                    int n = (int)Math.Min(ChunkSize, end - pos);
                    var piece = buffer.AsSpan(0, n);
                    top.Read(pos, piece);
                    if (piece.IndexOfAnyExcept((byte)0) < 0) baseImage.WriteZeroes(pos, n);
                    else baseImage.Write(pos, piece);
                    pos += n;
                    done += n;
                    pace.After(n);
                    progress.Report(done, total);
                }
            // The base holds the data durably before the overlay lets go of it.
            baseImage.Flush();
        }
        if (!keep)
        {
            foreach (var (offset, length) in PresentRuns([top])) top.Discard(offset, length);
            top.Flush();
        }
        progress.End();
        context.Out.WriteLine("Image committed.");
        return ExitCodes.Success;
    }

    /// <summary>
    /// The runs any of <paramref name="layers"/> holds itself (data or explicit zeroes), merged and sorted, collected
    /// before anything is changed. Reading the top image over such a run gives what the topmost of them holds.
    /// </summary>
    private static List<(long Offset, long Length)> PresentRuns(IEnumerable<IBlockDriver> layers)
    {
        var runs = new List<(long Offset, long Length)>();
        foreach (var layer in layers)
            for (long off = 0; off < layer.Size;)
            {
                var e = layer.GetBlockStatus(off, layer.Size - off);
                long length = Math.Max(1, Math.Min(e.Length, layer.Size - off));
                if (e.Kind != ExtentKind.Unallocated) runs.Add((off, length));
                off += length;
            }
        runs.Sort();
        var merged = new List<(long Offset, long Length)>();
        foreach (var r in runs)
        {
            if (merged.Count > 0 && merged[^1].Offset + merged[^1].Length >= r.Offset)
            {
                var last = merged[^1];
                merged[^1] = (last.Offset, Math.Max(last.Offset + last.Length, r.Offset + r.Length) - last.Offset);
            }
            else merged.Add(r);
        }
        return merged;
    }

    /// <summary>-r: sleeps so that the bytes written so far never run ahead of RATE per second.</summary>
    private sealed class Pace(long? bytesPerSecond)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _bytes;

        public void After(long bytes)
        {
            if (bytesPerSecond is not { } rate) return;
            _bytes += bytes;
            var due = TimeSpan.FromSeconds((double)_bytes / rate);
            if (due > _clock.Elapsed) Thread.Sleep(due - _clock.Elapsed);
        }
    }
}
