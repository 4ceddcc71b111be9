namespace MiniVM.Block;

/// <summary>
/// Capability of an open image that can change some of its create options in place (qemu-img amend), beyond its size
/// (<see cref="IResizable"/>) and backing link (<see cref="IBackingLink"/>).
/// </summary>
public interface IAmendableOptions
{
    /// <summary>The create option keys <see cref="Amend"/> accepts.</summary>
    IReadOnlyCollection<string> AmendableOptions { get; }

    /// <summary>
    /// Checks the amendable values in <paramref name="options"/> against this image without changing anything: a bad
    /// value throws <see cref="ImageFormatException"/> without a file name; a change the image's content or features
    /// forbid throws <see cref="NotSupportedException"/> with the reason.
    /// </summary>
    void CheckAmend(ImageCreateOptions options);

    /// <summary>Checks as <see cref="CheckAmend"/> does, then makes the change durable.</summary>
    void Amend(ImageCreateOptions options);
}
