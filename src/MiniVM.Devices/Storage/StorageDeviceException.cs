namespace MiniVM.Devices.Storage;

/// <summary>
/// A storage device cannot be built as configured: a floppy image of a size no drive reads, a disk too
/// large for ATA addressing. The message names the image and what was wrong.
/// </summary>
public sealed class StorageDeviceException(string message) : Exception(message);
