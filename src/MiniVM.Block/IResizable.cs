namespace MiniVM.Block;

/// <summary>Capability: the virtual disk size can be changed in place (`img resize`).</summary>
public interface IResizable
{
    /// <summary>
    /// Grows or shrinks the disk to <paramref name="newSize"/> bytes. Shrinking drops the data past the new end;
    /// grown space reads as the backing image (where it reaches) or zeroes. Throws ImageFormatException for a size
    /// the format cannot represent.
    /// </summary>
    void Resize(long newSize);
}
