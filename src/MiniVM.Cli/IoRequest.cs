namespace MiniVM.Cli;

public enum IoOperation { Read, Write, Discard, Flush, Map }

/// <summary>One parsed qemu-io command line ("read -P 0xab 0 64k").</summary>
/// <param name="Pattern">-P byte: written by write, verified by read; null when not given.</param>
/// <param name="Zeroes">write -z: write zeroes instead of data.</param>
public sealed record IoRequest(IoOperation Operation, long Offset, long Length, byte? Pattern, bool Zeroes, string Text)
{
    /// <summary>qemu-io's default write pattern.</summary>
    public const byte DefaultWritePattern = 0xcd;

    public static IoRequest Parse(string text)
    {
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) throw CommandFailure.Usage("empty io command");
        var op = words[0] switch
        {
            "read" or "r" => IoOperation.Read,
            "write" or "w" => IoOperation.Write,
            "discard" or "aio_discard" => IoOperation.Discard,
            "flush" or "f" => IoOperation.Flush,
            "map" => IoOperation.Map,
            var w => throw CommandFailure.Usage($"unknown io command '{w}' (commands: read, write, discard, flush, map)"),
        };
        byte? pattern = null;
        bool zeroes = false;
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
            else if (w == "-q") { } // qemu-io's "quiet": accepted, output stays as is
            else if (w.Length > 1 && w[0] == '-' && !char.IsDigit(w[1]))
                throw CommandFailure.Usage($"'{text}': unknown flag {w}");
            else positional.Add(w);
        }
        if (zeroes && pattern is not null) throw CommandFailure.Usage($"'{text}': -z and -P cannot be combined");
        bool ranged = op is IoOperation.Read or IoOperation.Write or IoOperation.Discard;
        if (positional.Count != (ranged ? 2 : 0))
            throw CommandFailure.Usage(ranged ? $"'{text}': expected {words[0]} OFF LEN" : $"'{text}': {words[0]} takes no arguments");
        long off = ranged ? CliNumbers.Size(positional[0], "offset") : 0;
        long len = ranged ? CliNumbers.Size(positional[1], "length") : 0;
        return new IoRequest(op, off, len, pattern, zeroes, text);
    }
}
