using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// `minivm img bench [-f FMT] [-c COUNT] [-s SIZE] [-S STEP] [-o OFFSET] [-w] FILE`: qemu-img bench at queue depth 1,
/// same defaults (75000 requests of 4 KiB, step = size) and the same offset wrap (qemu commit ff2ab634).
/// </summary>
internal static class ImgBenchCommand
{
    /// <summary>Largest request buffer accepted, so a typo cannot allocate the whole memory.</summary>
    private const int MaxBufferSize = 256 << 20;

    public static Command Create(CliContext context)
    {
        var count = new Option<int>("-c", "--count") { Description = "number of requests", HelpName = "COUNT", DefaultValueFactory = _ => 75000 };
        var depth = new Option<int>("-d", "--depth") { Description = "requests in flight (only 1 is supported)", HelpName = "DEPTH", DefaultValueFactory = _ => 1 };
        var format = CliOptions.Format();
        var offset = new Option<string?>("-o", "--offset") { Description = "offset of the first request (default 0)", HelpName = "OFFSET" };
        var size = new Option<string?>("-s", "--size") { Description = "bytes per request (default 4K)", HelpName = "SIZE" };
        var step = new Option<string?>("-S", "--step") { Description = "distance between request offsets (default SIZE)", HelpName = "STEP" };
        var write = new Option<bool>("-w", "--write") { Description = "write instead of read" };
        var pattern = new Option<string?>("--pattern") { Description = "byte written by -w (default 0)", HelpName = "BYTE" };
        var flushInterval = new Option<int>("--flush-interval") { Description = "flush after every N writes (0 = never)", HelpName = "N" };
        var noDrain = new Option<bool>("--no-drain") { Description = "accepted for qemu-img compatibility (no effect at depth 1)" };
        var unsafePaths = CliOptions.AllowUnsafePaths();
        var file = CliOptions.File();
        var cmd = new Command("bench", "time sequential reads or writes, like qemu-img bench at queue depth 1")
            { count, depth, format, offset, size, step, write, pattern, flushInterval, noDrain, unsafePaths, file };
        cmd.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            if (n < 1) throw CommandFailure.Usage($"request count {n} must be at least 1");
            if (parse.GetValue(depth) != 1) throw CommandFailure.Usage("only queue depth 1 (-d 1) is supported");
            int bufSize = parse.GetValue(size) is { } s ? CliNumbers.BufferSize(s, "request size", MaxBufferSize) : 4096;
            long stepSize = parse.GetValue(step) is { } st ? CliNumbers.Size(st, "step") : bufSize;
            long start = parse.GetValue(offset) is { } o ? CliNumbers.Size(o, "offset") : 0;
            bool isWrite = parse.GetValue(write);
            int flush = parse.GetValue(flushInterval);
            if (flush < 0) throw CommandFailure.Usage($"flush interval {flush} is negative");
            if (flush > 0 && !isWrite) throw CommandFailure.Usage("--flush-interval is only meaningful with -w");
            byte fill = parse.GetValue(pattern) is { } p ? CliNumbers.PatternByte(p) : (byte)0;
            string f = parse.GetRequiredValue(file);

            using var image = ImageAccess.Open(context, f, parse.GetValue(format), readOnly: !isWrite, parse.GetValue(unsafePaths));
            if (start > image.Size - bufSize)
                throw new ImageFormatException(f, $"a {bufSize}-byte request at offset {start} is beyond the image size {image.Size}");

            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Sending {n} {(isWrite ? "write" : "read")} requests, {bufSize} bytes each, 1 in parallel (starting at offset {start}, step size {stepSize})"));
            if (flush > 0) context.Out.WriteLine($"Sending flush every {flush} requests");

            byte[] buffer = GC.AllocateUninitializedArray<byte>(bufSize, pinned: true);
            buffer.AsSpan().Fill(fill);
            long elapsed = Measure(image, buffer, n, start, stepSize, isWrite, flush);
            double seconds = (double)elapsed / Stopwatch.Frequency;
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Run completed in {seconds:0.000} seconds."));
            double ops = seconds > 0 ? n / seconds : 0;
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{ops:0} ops/s, {ops * bufSize / (1 << 20):0.0} MiB/s"));
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>The timed loop: no allocation, no virtual call besides the driver's own.</summary>
    private static long Measure(IBlockDriver image, byte[] buffer, int count, long offset, long step, bool write, int flushInterval)
    {
        long size = image.Size, bufSize = buffer.Length;
        long began = Stopwatch.GetTimestamp();
        for (int i = 1; i <= count; i++)
        {
            if (write) image.Write(offset, buffer);
            else image.Read(offset, buffer);
            if (flushInterval > 0 && i % flushInterval == 0) image.Flush();
            offset += step;
            // qemu-img (ff2ab634): wrap within the range where a whole request still fits.
            offset = size <= bufSize ? 0 : offset % (size - bufSize);
        }
        return Stopwatch.GetTimestamp() - began;
    }
}
