using MiniVM.Devices;
using MiniVM.Devices.Virtio;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>savevm/loadvm of the device: the queue carries on where it stopped; a damaged section changes nothing.</summary>
public sealed class VirtioBlkStateTests
{
    private static byte[] Save(ISnapshottable s)
    {
        using var ms = new MemoryStream();
        s.SaveState(new StateWriter(ms));
        return ms.ToArray();
    }

    [Theory]
    [InlineData("legacy")]
    [InlineData("modern")]
    public void RestoredDeviceContinuesTheQueueAndKeepsItsPendingInterrupt(string transport)
    {
        var disk = new RecordingDisk(64 * 512);
        var driver = new TestVirtioDriver(transport, disk);
        driver.Initialize();
        Assert.Equal(VirtioBlkStatus.Ok, driver.ReadSectors(2, 1));
        byte[] state = Save(driver.Device);

        // A second driver object plays the restored machine: same RAM contents, a fresh device loaded from the section.
        var restored = new TestVirtioDriver(transport, disk);
        driver.Ram.Bytes.CopyTo(restored.Ram.Bytes, 0);
        using (var ms = new MemoryStream(state))
            restored.Device.LoadState(new StateReader(ms, restored.Device.SectionId), restored.Device.SectionVersion);
        Assert.True(restored.Irq.Level);                 // the unacknowledged completion still asserts INTx
        Assert.Equal(driver.Status, restored.Status);
        Assert.Equal(1, restored.ReadIsr());

        // The driver's ring state lives in RAM; the device must pick up at available index 1, used index 1.
        restored.SetAvailIndex(1);
        Assert.Equal(VirtioBlkStatus.Ok, restored.ReadSectors(9, 1));
        Assert.Equal(2, restored.UsedIndex);
        Assert.Equal(disk.Bytes.AsSpan(9 * 512, 512).ToArray(), restored.Ram.Bytes.AsSpan((int)TestVirtioDriver.DataAt, 512).ToArray());
        Assert.Equal(state.Length, Save(restored.Device).Length);
    }

    [Fact]
    public void TruncatedOrForeignSectionsAreRefusedWithoutChangingTheDevice()
    {
        var disk = new RecordingDisk(64 * 512);
        var legacy = new TestVirtioDriver("legacy", disk);
        legacy.Initialize();
        byte[] state = Save(legacy.Device);

        var target = new TestVirtioDriver("legacy", disk);
        byte[] before = Save(target.Device);
        using (var ms = new MemoryStream(state[..(state.Length - 3)]))
        {
            var e = Assert.Throws<StateFormatException>(() => target.Device.LoadState(new StateReader(ms, target.Device.SectionId), 1));
            Assert.Contains("truncated", e.Message);
        }
        Assert.Equal(before, Save(target.Device));

        var modern = new TestVirtioDriver("modern", disk);
        using (var ms = new MemoryStream(state))
        {
            var e = Assert.Throws<StateFormatException>(() => modern.Device.LoadState(new StateReader(ms, modern.Device.SectionId), 1));
            Assert.Contains("1AF4:1001", e.Message);
        }
        using (var ms = new MemoryStream(state))
            Assert.Throws<StateFormatException>(() => target.Device.LoadState(new StateReader(ms, target.Device.SectionId), 2));
    }
}
