using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// Growing an image as qemu-img 7.2 does (block/io.c bdrv_co_truncate): the format grows the disk through
/// <see cref="IResizable"/>, and when the backing image is longer than the old size, the grown part is written as
/// zeroes, so the backing's bytes past the old end do not suddenly show through.
/// </summary>
internal static class ImageGrowth
{
    public static void Resize(IBlockDriver image, string file, long newSize)
    {
        if (image is not IResizable resizable)
            throw CommandFailure.Unsupported(file, $"format {image.FormatName} cannot be resized");
        long oldSize = image.Size;
        resizable.Resize(newSize);
        if (newSize > oldSize && image is IBackingImage { Backing: { } backing } && backing.Size > oldSize)
            image.WriteZeroes(oldSize, newSize - oldSize);
    }
}
