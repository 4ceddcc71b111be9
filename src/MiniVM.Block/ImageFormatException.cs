namespace MiniVM.Block;

/// <summary>
/// The one exception type of the block layer: a file that is not a valid image, a field out of range,
/// a request the image cannot satisfy. The message is one line that names the file and what was wrong;
/// the CLI prints it as is.
/// </summary>
public class ImageFormatException : Exception
{
    public string? FileName { get; }

    public ImageFormatException(string message) : base(message) { }

    public ImageFormatException(string message, Exception inner) : base(message, inner) { }

    public ImageFormatException(string? fileName, string message)
        : base(fileName is null ? message : $"{fileName}: {message}") => FileName = fileName;

    public ImageFormatException(string? fileName, string message, Exception inner)
        : base(fileName is null ? message : $"{fileName}: {message}", inner) => FileName = fileName;

    /// <summary>For a header field that fails validation: "FILE: field NAME = VALUE: REASON".</summary>
    public static ImageFormatException BadField(string? fileName, string field, object? value, string reason)
        => new(fileName, $"field {field} = {value}: {reason}");
}
