namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>
/// savevm reads only the RAM pages written since its last look (PhysicalMemory's write log). These tests make the
/// guest and a DMA write change RAM after a savevm and show that the next savevm's stream carries the change: the
/// machine restored from it has the state hash (SHA-256 over a full scan of RAM, which never uses the log) the
/// machine had when it was saved.
/// </summary>
[Collection("boots")]
public sealed class RamWriteLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-writelog").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// BIOS POST and the FreeDOS boot write RAM all the time (stack, BIOS data area tick count, buffers), through the
    /// CPU's write TLB once a page has an entry, and the translating engine's stores take the same fast path. A page
    /// whose TLB entry survived a savevm would be written without being logged; the second savevm would then store
    /// its old bytes and the restored hash would differ.
    /// </summary>
    [Theory]
    [InlineData("interpreter")]
    [InlineData("jit")]
    public void PagesTheGuestWritesAfterASavevmAreInTheNextOne(string engine)
    {
        using var vm = new SnapshotMachine(_dir, cpuEngine: engine);
        vm.Run(4_000_000);
        vm.Machine.SaveVm("s1");
        byte[] ramAtS1 = (byte[])vm.Machine.Memory.Ram.Clone();
        for (int round = 2; round <= 4; round++)
        {
            vm.Run(3_000_000);
            string name = $"s{round}";
            string atSave = vm.Hash();
            vm.Machine.SaveVm(name);
            vm.Run(2_000_000);
            Assert.NotEqual(atSave, vm.Hash());
            vm.Machine.LoadVm(name);
            Assert.Equal(atSave, vm.Hash());
        }
        Assert.False(ramAtS1.AsSpan().SequenceEqual(vm.Machine.Memory.Ram), "the guest wrote no RAM after the first savevm");
    }

    /// <summary>
    /// A device's DMA write (PhysicalMemory.Write, as GuestMemory does it) to a page that was zero and to one that was
    /// not. loadvm applies the pages its checking pass kept, or (staging limit 0) reads the stream a second time.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DmaWritesAfterASavevmAreInTheNextOne(bool readTwice)
    {
        using var vm = new SnapshotMachine(_dir);
        if (readTwice) vm.Machine.LoadVmStagingLimit = 0;
        vm.Run(2_000_000);
        vm.Machine.SaveVm("s1");
        const ulong zeroPage = 0x70000, usedPage = 0x400; // a page far above what POST touched so far; the BIOS data area
        Assert.False(vm.Machine.Memory.Ram.AsSpan((int)zeroPage, 4096).ContainsAnyExcept((byte)0));
        vm.Machine.Memory.Write(zeroPage + 100, "written by DMA"u8);
        vm.Machine.Memory.Write(usedPage + 0x100, "also by DMA"u8);
        string atSave = vm.Hash();
        vm.Machine.SaveVm("s2");
        vm.Machine.Memory.Write(zeroPage + 100, new byte[14]);
        vm.Machine.Memory.Write(usedPage + 0x100, new byte[11]);
        vm.Machine.LoadVm("s2");
        Assert.Equal(atSave, vm.Hash());
        Assert.Equal("written by DMA"u8.ToArray(), vm.Machine.Memory.Ram.AsSpan((int)zeroPage + 100, 14).ToArray());

        // loadvm skips pages it knows are zero: a page made non-zero after s1 and zero in s1 is cleared by loading s1.
        vm.Machine.LoadVm("s1");
        Assert.False(vm.Machine.Memory.Ram.AsSpan((int)zeroPage, 4096).ContainsAnyExcept((byte)0));
    }
}
