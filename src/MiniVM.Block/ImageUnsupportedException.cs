namespace MiniVM.Block;

/// <summary>
/// The image is valid and the request well-formed, but its format cannot do it (shrink an iROW disk, grow a compact
/// FVD table past its region, ...). The CLI reports it as "unsupported" (exit 69), not as a bad image.
/// </summary>
public sealed class ImageUnsupportedException(string? fileName, string message) : ImageFormatException(fileName, message);
