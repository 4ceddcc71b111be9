using System.Diagnostics;
using Xunit.Abstractions;

namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>
/// savevm/loadvm of a guest whose RAM is all non-zero (the worst case: no page is skipped), timed for the issue's
/// note; the restored RAM must equal what was saved.
/// </summary>
[Collection("boots")]
[Trait("Category", "Perf")]
public sealed class SavevmThroughputTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-perf").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(128)]
    [InlineData(512)]
    public void FullRamRoundTrip(int memoryMiB)
    {
        using var vm = new SnapshotMachine(_dir, memoryMiB);
        vm.Run(1_000_000);
        new Random(memoryMiB).NextBytes(vm.Machine.Memory.Ram);
        vm.Machine.Memory.LogRamWrites(0, vm.Machine.Memory.RamSize); // written behind the CPU's back
        string hash = vm.Hash();

        var save = Stopwatch.StartNew();
        var info = vm.Machine.SaveVm("s1");
        save.Stop();
        Array.Clear(vm.Machine.Memory.Ram);
        var load = Stopwatch.StartNew();
        vm.Machine.LoadVm("s1");
        load.Stop();

        Assert.Equal(hash, vm.Hash());
        double mib = info.VmStateSize / 1048576.0;
        output.WriteLine($"{memoryMiB} MiB guest: VM state {mib:0.0} MiB, savevm {save.Elapsed.TotalSeconds:0.00} s ({mib / save.Elapsed.TotalSeconds:0} MiB/s), loadvm {load.Elapsed.TotalSeconds:0.00} s ({mib / load.Elapsed.TotalSeconds:0} MiB/s)");
    }
}
