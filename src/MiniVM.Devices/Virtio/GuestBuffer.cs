namespace MiniVM.Devices.Virtio;

/// <summary>
/// One buffer of a descriptor chain after validation: it lies wholly inside guest RAM, so whatever reads or writes
/// it later needs no further checks (design.md, "parse, validate, then act").
/// </summary>
public readonly record struct GuestBuffer(ulong Address, uint Length, bool DeviceWritable);

/// <summary>Why a descriptor chain could not be walked; anything but <see cref="None"/> leaves no place to report a status.</summary>
public enum ChainFault
{
    None,
    /// <summary>A head or next index beyond the (direct or indirect) table.</summary>
    IndexOutOfRange,
    /// <summary>A buffer or table that does not lie inside guest RAM.</summary>
    OutsideRam,
    /// <summary>More descriptors than the queue size: a loop or an oversized chain (VIRTIO 1.1 §2.6.5.3.1).</summary>
    TooLong,
    /// <summary>A device-readable buffer after a device-writable one (§2.6.4.2).</summary>
    ReadableAfterWritable,
    /// <summary>An indirect descriptor inside an indirect table, or one with NEXT set, or indirect not negotiated (§2.6.5.3.1).</summary>
    BadIndirect,
}
