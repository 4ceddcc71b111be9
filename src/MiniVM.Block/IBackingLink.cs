namespace MiniVM.Block;

/// <summary>
/// Capability: the backing file name and format stored in the image can be rewritten in place (`img rebase`,
/// `img amend -o backing_file=...`). Only the stored link changes; the caller makes the data agree first (safe rebase).
/// </summary>
public interface IBackingLink : IBackingImage
{
    /// <summary>
    /// Stores <paramref name="name"/> (null: no backing file) and <paramref name="format"/> (null: not recorded).
    /// The image must be open read-write; a name the header cannot hold is an ImageFormatException and changes nothing.
    /// </summary>
    void SetBackingFile(string? name, string? format);
}
