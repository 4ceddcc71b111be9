using System.Buffers.Binary;
using MiniVM.Devices.Virtio;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>Well-formed requests on both transports: bytes on disk and in RAM, status bytes, used ring, INTx and ISR.</summary>
public sealed class VirtioBlkRequestTests
{
    public static TheoryData<string> Transports => new() { "legacy", "modern" };

    private static TestVirtioDriver Ready(string transport, RecordingDisk disk)
    {
        var driver = new TestVirtioDriver(transport, disk);
        driver.Initialize();
        return driver;
    }

    [Theory, MemberData(nameof(Transports))]
    public void ReadCopiesSectorsIntoRamAndCompletesWithAnInterrupt(string transport)
    {
        var disk = new RecordingDisk(256 * 512);
        var driver = Ready(transport, disk);
        Assert.False(driver.Irq.Level);

        Assert.Equal(VirtioBlkStatus.Ok, driver.ReadSectors(5, 3));
        Assert.Equal(disk.Bytes.AsSpan(5 * 512, 3 * 512).ToArray(), driver.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt, 3 * 512).ToArray());
        Assert.Equal(1, driver.UsedIndex);
        Assert.Equal((0u, 3u * 512 + 1), driver.UsedElement(0));
        Assert.True(driver.Irq.Level);
        Assert.Equal(1, driver.ReadIsr());  // queue interrupt
        Assert.False(driver.Irq.Level);    // reading the ISR deasserts INTx
        Assert.Equal(0, driver.ReadIsr());
    }

    [Theory, MemberData(nameof(Transports))]
    public void WriteLandsOnDisk(string transport)
    {
        var disk = new RecordingDisk(256 * 512);
        var driver = Ready(transport, disk);
        var data = new byte[2 * 512];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 31 + 7);
        Assert.Equal(VirtioBlkStatus.Ok, driver.WriteSectors(100, data));
        Assert.Equal(data, disk.Bytes.AsSpan(100 * 512, data.Length).ToArray());
        Assert.Equal((0u, 1u), driver.UsedElement(0)); // only the status byte was written
        Assert.Equal(RecordingDisk.Pattern(99 * 512 + 511), disk.Bytes[99 * 512 + 511]);
        Assert.Equal(RecordingDisk.Pattern(102 * 512), disk.Bytes[102 * 512]);
    }

    [Theory, MemberData(nameof(Transports))]
    public void FlushGetIdDiscardAndWriteZeroesReachTheBlockLayer(string transport)
    {
        var disk = new RecordingDisk(256 * 512);
        var driver = Ready(transport, disk);
        Assert.Equal(VirtioBlkStatus.Ok, driver.Request(VirtioBlkRequestType.Flush, 0, 0, dataWritable: false));
        Assert.Equal(1, disk.Flushes);

        Assert.Equal(VirtioBlkStatus.Ok, driver.Request(VirtioBlkRequestType.GetId, 0, 20, dataWritable: true));
        Assert.Equal("MVMTESTSERIAL0123456"u8.ToArray(), driver.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt, 20).ToArray());

        Span<byte> seg = driver.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(seg, 10);
        BinaryPrimitives.WriteUInt32LittleEndian(seg[8..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(seg[12..], 0);
        Assert.Equal(VirtioBlkStatus.Ok, driver.Request(VirtioBlkRequestType.Discard, 0, 16, dataWritable: false));
        Assert.Equal([(10L * 512, 4L * 512)], disk.Discards);

        BinaryPrimitives.WriteUInt32LittleEndian(seg[12..], 1); // UNMAP allowed for write zeroes
        Assert.Equal(VirtioBlkStatus.Ok, driver.Request(VirtioBlkRequestType.WriteZeroes, 0, 16, dataWritable: false));
        Assert.Equal([(10L * 512, 4L * 512)], disk.ZeroWrites);
        Assert.All(disk.Bytes.AsSpan(10 * 512, 4 * 512).ToArray(), b => Assert.Equal(0, b));

        BinaryPrimitives.WriteUInt32LittleEndian(seg[12..], 1); // but no flag exists for discard
        Assert.Equal(VirtioBlkStatus.Unsupp, driver.Request(VirtioBlkRequestType.Discard, 0, 16, dataWritable: false));
        Assert.Equal(VirtioBlkStatus.Unsupp, driver.Request(99, 0, 0, dataWritable: false));
        Assert.Equal(6, driver.UsedIndex);
    }

    [Theory, MemberData(nameof(Transports))]
    public void ReadOnlyDiskRefusesWritesWithIoErr(string transport)
    {
        var disk = new RecordingDisk(64 * 512, readOnly: true);
        var driver = Ready(transport, disk);
        Assert.NotEqual(0UL, driver.DeviceFeatures() & (1UL << VirtioBlkFeatures.ReadOnly));
        var before = disk.Bytes.ToArray();
        Assert.Equal(VirtioBlkStatus.IoErr, driver.WriteSectors(1, new byte[512]));
        Assert.Equal(before, disk.Bytes);
        Assert.Equal(VirtioBlkStatus.Ok, driver.ReadSectors(1, 1));
    }

    [Theory, MemberData(nameof(Transports))]
    public void IndirectDescriptorTableCarriesAWholeRequest(string transport)
    {
        var disk = new RecordingDisk(64 * 512);
        var driver = Ready(transport, disk);
        const ulong table = 0x30000;
        driver.WriteHeader(VirtioBlkRequestType.In, 7);
        // Data split over two buffers, as a scatter-gather list.
        driver.WriteDescriptor(table, 0, TestVirtioDriver.HeaderAt, 16, TestVirtioDriver.Next, 1);
        driver.WriteDescriptor(table, 1, TestVirtioDriver.DataAt, 300, TestVirtioDriver.Next | TestVirtioDriver.Write, 2);
        driver.WriteDescriptor(table, 2, TestVirtioDriver.DataAt + 0x1000, 212, TestVirtioDriver.Next | TestVirtioDriver.Write, 3);
        driver.WriteDescriptor(table, 3, TestVirtioDriver.StatusAt, 1, TestVirtioDriver.Write, 0);
        driver.WriteDescriptor(TestVirtioDriver.DescTable, 5, table, 4 * 16, TestVirtioDriver.Indirect, 0);
        driver.Ram.Bytes[TestVirtioDriver.StatusAt] = 0xEE;
        driver.Publish(5);
        Assert.Equal(VirtioBlkStatus.Ok, driver.Ram.Bytes[TestVirtioDriver.StatusAt]);
        Assert.Equal(disk.Bytes.AsSpan(7 * 512, 300).ToArray(), driver.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt, 300).ToArray());
        Assert.Equal(disk.Bytes.AsSpan(7 * 512 + 300, 212).ToArray(), driver.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt + 0x1000, 212).ToArray());
        Assert.Equal((5u, 513u), driver.UsedElement(0));
    }

    [Theory, MemberData(nameof(Transports))]
    public void SeveralAvailableRequestsCompleteInOrderOnOneNotify(string transport)
    {
        var disk = new RecordingDisk(64 * 512);
        var driver = Ready(transport, disk);
        for (int i = 0; i < 3; i++)
        {
            ulong hdr = TestVirtioDriver.HeaderAt + (ulong)i * 32, status = TestVirtioDriver.StatusAt + (ulong)i;
            driver.WriteHeader(VirtioBlkRequestType.In, (ulong)i, hdr);
            driver.WriteDescriptor(TestVirtioDriver.DescTable, 3 * i, hdr, 16, TestVirtioDriver.Next, (ushort)(3 * i + 1));
            driver.WriteDescriptor(TestVirtioDriver.DescTable, 3 * i + 1, TestVirtioDriver.DataAt + (ulong)i * 512, 512, TestVirtioDriver.Next | TestVirtioDriver.Write, (ushort)(3 * i + 2));
            driver.WriteDescriptor(TestVirtioDriver.DescTable, 3 * i + 2, status, 1, TestVirtioDriver.Write, 0);
            driver.Publish((ushort)(3 * i), kick: false);
        }
        Assert.Equal(0, driver.UsedIndex);
        driver.Notify();
        Assert.Equal(3, driver.UsedIndex);
        for (int i = 0; i < 3; i++) Assert.Equal((3u * (uint)i, 513u), driver.UsedElement(i));
        Assert.Equal(disk.Bytes.AsSpan(0, 3 * 512).ToArray(), driver.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt, 3 * 512).ToArray());
    }

    [Theory, MemberData(nameof(Transports))]
    public void NoInterruptFlagSuppressesTheInterruptButNotTheCompletion(string transport)
    {
        var driver = Ready(transport, new RecordingDisk(64 * 512));
        driver.SetAvailFlags(1);
        Assert.Equal(VirtioBlkStatus.Ok, driver.ReadSectors(0, 1));
        Assert.Equal(1, driver.UsedIndex);
        Assert.False(driver.Irq.Level);
        Assert.Equal(0, driver.ReadIsr());
    }

    [Theory, MemberData(nameof(Transports))]
    public void NothingHappensWithoutBusMastering(string transport)
    {
        var driver = Ready(transport, new RecordingDisk(64 * 512));
        driver.Device.WriteConfig(0x04, 2, driver.Modern ? 0x0002u : 0x0001u);
        Assert.Equal(0xEE, driver.ReadSectors(0, 1));
        Assert.Equal(0, driver.UsedIndex);
    }

    [Fact]
    public void InterruptDisableBitInTheCommandRegisterMasksIntx()
    {
        var driver = Ready("legacy", new RecordingDisk(64 * 512));
        driver.Device.WriteConfig(0x04, 2, 0x0405); // I/O, bus master, interrupt disable
        driver.ReadSectors(0, 1);
        Assert.False(driver.Irq.Level);
        Assert.Equal(0x08u, driver.Device.ReadConfig(0x06, 2) & 0x08); // interrupt status still shows it
        driver.Device.WriteConfig(0x04, 2, 0x0005);
        Assert.True(driver.Irq.Level);
    }
}
