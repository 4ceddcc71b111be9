namespace MiniVM.Block;

/// <summary>
/// The host refused a read or write of an image's file (EIO, ENOSPC, …). Still an <see cref="ImageFormatException"/>,
/// so devices turn it into a guest I/O error like any failed request; the CLI gives it the I/O exit code (74).
/// </summary>
public sealed class ImageIOException(string fileName, string operation, IOException inner)
    : ImageFormatException(fileName, $"{operation} failed: {inner.Message}", inner)
{
}
