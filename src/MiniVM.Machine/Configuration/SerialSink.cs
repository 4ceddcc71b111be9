namespace MiniVM.Machine.Configuration;

/// <summary>Where COM1's output goes (`serial`: stdio, none or file:PATH).</summary>
public sealed record SerialSink
{
    private SerialSink(SerialSinkKind kind, string? path) { Kind = kind; Path = path; }

    public SerialSinkKind Kind { get; }
    /// <summary>The file COM1 is written to; set only for <see cref="SerialSinkKind.File"/>.</summary>
    public string? Path { get; }

    public static SerialSink Stdio { get; } = new(SerialSinkKind.Stdio, null);
    public static SerialSink None { get; } = new(SerialSinkKind.None, null);
    public static SerialSink ToFile(string path) => new(SerialSinkKind.File, path);
}

public enum SerialSinkKind { Stdio, None, File }
