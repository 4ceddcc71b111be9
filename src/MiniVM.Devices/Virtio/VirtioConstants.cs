namespace MiniVM.Devices.Virtio;

/// <summary>Device status bits (VIRTIO 1.1 §2.1).</summary>
public static class VirtioStatus
{
    public const byte Acknowledge = 1, Driver = 2, DriverOk = 4, FeaturesOk = 8, DeviceNeedsReset = 0x40, Failed = 0x80;
}

/// <summary>Feature bits of the block device (§5.2.3) and the transport-wide ones (§6).</summary>
public static class VirtioBlkFeatures
{
    public const int SizeMax = 1, SegMax = 2, Geometry = 4, ReadOnly = 5, BlkSize = 6, Flush = 9, Discard = 13,
        WriteZeroes = 14, IndirectDesc = 28, Version1 = 32;

    public static ulong Bit(int feature) => 1UL << feature;
}

/// <summary>Request types and status values of a virtio-blk request (§5.2.6).</summary>
public static class VirtioBlkRequestType
{
    public const uint In = 0, Out = 1, Flush = 4, GetId = 8, Discard = 11, WriteZeroes = 13;
}

public static class VirtioBlkStatus
{
    public const byte Ok = 0, IoErr = 1, Unsupp = 2;
}
