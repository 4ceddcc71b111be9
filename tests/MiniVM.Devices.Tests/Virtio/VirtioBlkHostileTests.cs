using MiniVM.Devices.Virtio;
using static MiniVM.Devices.Tests.Virtio.TestVirtioDriver;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>
/// Hostile or broken drivers: every chain is validated before the disk or RAM is touched. A request that can report
/// its status gets IOERR; a chain that cannot (outside RAM, loops, wrong order, bad indirect tables) stops the queue
/// and, on the modern transport, sets DEVICE_NEEDS_RESET with a configuration interrupt. The strict RAM double throws
/// on any access outside RAM, so "no exception" here also means "never touched memory it must not".
/// </summary>
public sealed class VirtioBlkHostileTests
{
    private const int Ram = 1 << 20;
    public static TheoryData<string> Transports => new() { "legacy", "modern" };

    private static (TestVirtioDriver Driver, RecordingDisk Disk) Ready(string transport)
    {
        var disk = new RecordingDisk(64 * 512);
        var driver = new TestVirtioDriver(transport, disk, Ram);
        driver.Initialize();
        return (driver, disk);
    }

    /// <summary>The queue stopped: nothing completed, modern reports NEEDS_RESET and a config interrupt; a reset recovers.</summary>
    private static void AssertNeedsReset(TestVirtioDriver driver, RecordingDisk disk, byte[] diskBefore)
    {
        Assert.Equal(0, driver.UsedIndex);
        Assert.Equal(diskBefore, disk.Bytes);
        Assert.True(driver.Device.Blk.Broken);
        if (driver.Modern)
        {
            Assert.Equal(VirtioStatus.DeviceNeedsReset, driver.Status & VirtioStatus.DeviceNeedsReset);
            Assert.True(driver.Irq.Level);
            Assert.Equal(2, driver.ReadIsr());
        }
        // Further kicks are ignored until the driver resets the device; after that a good request works.
        driver.Notify();
        Assert.Equal(0, driver.UsedIndex);
        driver.Initialize();
        Assert.Equal(0, driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.Equal(VirtioBlkStatus.Ok, driver.ReadSectors(1, 1));
        Assert.Equal(1, driver.UsedIndex);
    }

    [Theory, MemberData(nameof(Transports))]
    public void DescriptorPointingOutsideRamStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteHeader(VirtioBlkRequestType.In, 0);
        driver.WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 1);
        driver.WriteDescriptor(DescTable, 1, Ram - 256, 512, Next | Write, 2); // straddles the end of RAM
        driver.WriteDescriptor(DescTable, 2, StatusAt, 1, Write, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory]
    [InlineData("legacy", 0xFFFF_FFFF_FFFF_FF00UL, 0x200u)]  // address + length wraps around 2^64
    [InlineData("modern", 0x1_0000_0000UL, 1u)]
    [InlineData("modern", 0x100UL, 0xFFFF_FFFFu)]            // huge length
    public void WrappingOrHugeDescriptorsStopTheQueue(string transport, ulong address, uint length)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteHeader(VirtioBlkRequestType.Out, 0);
        driver.WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 1);
        driver.WriteDescriptor(DescTable, 1, address, length, Next, 2);
        driver.WriteDescriptor(DescTable, 2, StatusAt, 1, Write, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory, MemberData(nameof(Transports))]
    public void LoopingChainStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteHeader(VirtioBlkRequestType.In, 0);
        driver.WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 1);
        driver.WriteDescriptor(DescTable, 1, DataAt, 512, Next | Write, 2);
        driver.WriteDescriptor(DescTable, 2, StatusAt, 1, Next | Write, 1); // back to 1, forever
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory, MemberData(nameof(Transports))]
    public void NextIndexBeyondTheTableStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteHeader(VirtioBlkRequestType.In, 0);
        driver.WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 500);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory, MemberData(nameof(Transports))]
    public void HeadIndexBeyondTheTableStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        driver.Publish(Size + 3);
        AssertNeedsReset(driver, disk, disk.Bytes.ToArray());
    }

    [Theory, MemberData(nameof(Transports))]
    public void AvailableIndexRunningAheadOfTheRingStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        driver.SetAvailIndex(Size + 1);
        driver.Notify();
        AssertNeedsReset(driver, disk, disk.Bytes.ToArray());
    }

    [Theory, MemberData(nameof(Transports))]
    public void ReadableBufferAfterAWritableOneStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteHeader(VirtioBlkRequestType.Out, 0);
        driver.WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 1);
        driver.WriteDescriptor(DescTable, 1, StatusAt, 1, Next | Write, 2);
        driver.WriteDescriptor(DescTable, 2, DataAt, 512, 0, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory, MemberData(nameof(Transports))]
    public void ChainWithoutAStatusByteStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteHeader(VirtioBlkRequestType.Out, 0);
        driver.WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 1);
        driver.WriteDescriptor(DescTable, 1, DataAt, 512, 0, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory, MemberData(nameof(Transports))]
    public void NestedIndirectTableStopsTheQueue(string transport)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        driver.WriteDescriptor(0x30000, 0, 0x31000, 16, Indirect, 0);
        driver.WriteDescriptor(DescTable, 0, 0x30000, 16, Indirect, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, before);
    }

    [Theory]
    [InlineData(17u)]           // not a whole number of descriptors
    [InlineData(0u)]
    [InlineData(129u * 16)]     // more descriptors than the queue size
    public void MalformedIndirectTableStopsTheQueue(uint tableLength)
    {
        var (driver, disk) = Ready("modern");
        driver.WriteDescriptor(DescTable, 0, 0x30000, tableLength, Indirect, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, disk.Bytes.ToArray());
    }

    [Fact]
    public void IndirectDescriptorWithoutTheNegotiatedFeatureStopsTheQueue()
    {
        var disk = new RecordingDisk(64 * 512);
        var driver = new TestVirtioDriver("modern", disk, Ram);
        driver.Initialize(accept: 1UL << VirtioBlkFeatures.Version1);
        driver.WriteHeader(VirtioBlkRequestType.In, 0);
        driver.WriteDescriptor(0x30000, 0, HeaderAt, 16, Next, 1);
        driver.WriteDescriptor(0x30000, 1, StatusAt, 1, Write, 0);
        driver.WriteDescriptor(DescTable, 0, 0x30000, 32, Indirect, 0);
        driver.Publish(0);
        AssertNeedsReset(driver, disk, disk.Bytes.ToArray());
    }

    [Theory, MemberData(nameof(Transports))]
    public void RingsOutsideRamStopTheQueue(string transport)
    {
        var disk = new RecordingDisk(64 * 512);
        var driver = new TestVirtioDriver(transport, disk, ramSize: 0x1800); // the used ring at 0x2000 is past the end
        driver.Initialize();
        driver.Notify();
        Assert.True(driver.Device.Blk.Broken);
    }

    public static TheoryData<string, uint, ulong, uint, bool> BadRequests => new()
    {
        { "legacy", VirtioBlkRequestType.In, 64, 512, true },              // first sector past the end
        { "modern", VirtioBlkRequestType.In, 63, 1024, true },             // runs past the end
        { "legacy", VirtioBlkRequestType.Out, ulong.MaxValue, 512, false }, // sector * 512 would overflow
        { "modern", VirtioBlkRequestType.Out, 1UL << 55, 512, false },
        { "legacy", VirtioBlkRequestType.In, 0, 100, true },               // not a whole sector
        { "modern", VirtioBlkRequestType.In, 0, 512, false },              // read into a device-readable buffer
        { "legacy", VirtioBlkRequestType.Out, 0, 512, true },              // write from a device-writable buffer
        { "modern", VirtioBlkRequestType.In, 0, 0xD0000, true },           // inside RAM, far beyond the disk
        { "modern", VirtioBlkRequestType.Discard, 0, 32, false },          // two segments where one is allowed
        { "legacy", VirtioBlkRequestType.WriteZeroes, 0, 8, false },       // a partial segment
    };

    [Theory, MemberData(nameof(BadRequests))]
    public void BadRequestsCompleteWithIoErrAndLeaveTheDiskAlone(string transport, uint type, ulong sector, uint length, bool writable)
    {
        var (driver, disk) = Ready(transport);
        var before = disk.Bytes.ToArray();
        var ramData = driver.Ram.Bytes.AsSpan((int)DataAt, (int)Math.Min(length, 4096u)).ToArray();
        Assert.Equal(VirtioBlkStatus.IoErr, driver.Request(type, sector, length, writable));
        Assert.Equal(before, disk.Bytes);
        Assert.Equal(ramData, driver.Ram.Bytes.AsSpan((int)DataAt, ramData.Length).ToArray());
        Assert.Equal(1, driver.UsedIndex);
        Assert.Equal((0u, 1u), driver.UsedElement(0));
        Assert.False(driver.Device.Blk.Broken);
        Assert.Equal(VirtioBlkStatus.Ok, driver.ReadSectors(63, 1)); // the queue goes on
    }

    [Theory]
    [InlineData(VirtioBlkRequestType.Discard, 60UL, 5u)]                 // past the end
    [InlineData(VirtioBlkRequestType.WriteZeroes, 0UL, 1u << 23)]        // more than max_write_zeroes_sectors
    [InlineData(VirtioBlkRequestType.Discard, ulong.MaxValue, 1u)]
    public void DiscardAndWriteZeroesRangesAreChecked(uint type, ulong sector, uint count)
    {
        var (driver, disk) = Ready("modern");
        var seg = driver.Ram.Bytes.AsSpan((int)DataAt, 16);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(seg, sector);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(seg[8..], count);
        seg[12..].Clear();
        Assert.Equal(VirtioBlkStatus.IoErr, driver.Request(type, 0, 16, dataWritable: false));
        Assert.Empty(disk.Discards);
        Assert.Empty(disk.ZeroWrites);
    }

    [Fact]
    public void RandomDescriptorTablesNeverThrowNorTouchOutsideRam()
    {
        var rng = new Random(1234);
        foreach (string transport in new[] { "legacy", "modern" })
            for (int round = 0; round < 300; round++)
            {
                var (driver, disk) = Ready(transport);
                var table = driver.Ram.Bytes.AsSpan((int)DescTable, Size * 16);
                rng.NextBytes(table);
                // Keep some descriptors plausible so that walks go deep before they fail.
                for (int i = 0; i < Size; i++)
                    if (rng.Next(2) == 0)
                        driver.WriteDescriptor(DescTable, i, (ulong)rng.Next(0x10000, Ram - 0x1000), (uint)rng.Next(0, 0x2000),
                            (ushort)rng.Next(0, 8), (ushort)rng.Next(0, Size + 4));
                driver.WriteHeader((uint)rng.Next(0, 16), (ulong)rng.Next(0, 80));
                for (int k = 0; k < 4; k++) driver.Publish((ushort)rng.Next(0, Size + 2), kick: false);
                driver.Notify();
                Assert.InRange(driver.UsedIndex, 0, 4);
            }
    }
}
