namespace MiniVM.Cli;

public enum IoOperation { Read, Write, Discard, Flush, Map, Alloc, Length, Info, Quit }

/// <summary>One parsed qemu-io command line ("read -P 0xab 0 64k").</summary>
/// <param name="Pattern">-P byte: written by write, verified by read; null when not given.</param>
/// <param name="Zeroes">write -z: write zeroes instead of data.</param>
/// <param name="Dump">read -v: print what was read as qemu-io's hex dump.</param>
public sealed record IoRequest(IoOperation Operation, long Offset, long Length, byte? Pattern, bool Zeroes, string Text, bool Dump = false)
{
    /// <summary>qemu-io's alloc counts one sector when no length is given.</summary>
    public const long DefaultAllocLength = 512;

    /// <summary>read -v holds what it prints in memory: bounded.</summary>
    public const long MaxDumpLength = 16 << 20;

    /// <summary>qemu-io's default write pattern.</summary>
    public const byte DefaultWritePattern = 0xcd;

    public static IoRequest Parse(string text)
    {
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) throw CommandFailure.Usage("empty io command");
        var op = words[0] switch
        {
            // The aio_ forms complete before the next command here, so they are the synchronous ones.
            "read" or "r" or "aio_read" => IoOperation.Read,
            "write" or "w" or "aio_write" => IoOperation.Write,
            "discard" or "aio_discard" => IoOperation.Discard,
            "flush" or "f" or "aio_flush" => IoOperation.Flush,
            "map" => IoOperation.Map,
            "alloc" => IoOperation.Alloc,
            "length" or "len" => IoOperation.Length,
            "info" => IoOperation.Info,
            "quit" or "q" => IoOperation.Quit,
            var w => throw CommandFailure.Usage($"unknown io command '{w}' (commands: read, write, discard, flush, map, alloc, length, info, " +
                "aio_read, aio_write, aio_flush, quit)"),
        };
        byte? pattern = null;
        bool zeroes = false, dump = false;
        var positional = new List<string>(2);
        for (int i = 1; i < words.Length; i++)
        {
            string w = words[i];
            if (w == "-P" && op is IoOperation.Read or IoOperation.Write)
            {
                if (++i >= words.Length) throw CommandFailure.Usage($"'{text}': -P needs a byte");
                pattern = CliNumbers.PatternByte(words[i]);
            }
            else if (w == "-z" && op == IoOperation.Write) zeroes = true;
            else if (w == "-v" && op == IoOperation.Read) dump = true;
            else if (w == "-q") { } // qemu-io's "quiet": accepted, output stays as is
            else if (w.Length > 1 && w[0] == '-' && !char.IsDigit(w[1]))
                throw CommandFailure.Usage($"'{text}': unknown flag {w}");
            else positional.Add(w);
        }
        if (zeroes && pattern is not null) throw CommandFailure.Usage($"'{text}': -z and -P cannot be combined");
        bool ranged = op is IoOperation.Read or IoOperation.Write or IoOperation.Discard;
        if (op == IoOperation.Alloc)
        {
            if (positional.Count is not (1 or 2)) throw CommandFailure.Usage($"'{text}': expected alloc OFF [LEN]");
            long at = CliNumbers.Size(positional[0], "offset");
            long count = positional.Count == 2 ? CliNumbers.Size(positional[1], "length") : DefaultAllocLength;
            return new IoRequest(op, at, count, null, false, text);
        }
        if (positional.Count != (ranged ? 2 : 0))
            throw CommandFailure.Usage(ranged ? $"'{text}': expected {words[0]} OFF LEN" : $"'{text}': {words[0]} takes no arguments");
        long off = ranged ? CliNumbers.Size(positional[0], "offset") : 0;
        long len = ranged ? CliNumbers.Size(positional[1], "length") : 0;
        if (dump && len > MaxDumpLength) throw CommandFailure.Usage($"'{text}': read -v prints at most {MaxDumpLength} bytes");
        return new IoRequest(op, off, len, pattern, zeroes, text, dump);
    }
}
