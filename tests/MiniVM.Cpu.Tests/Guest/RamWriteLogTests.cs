using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// PhysicalMemory's RAM write log (what savevm reads instead of scanning all of RAM) cannot lose a write: a page the
/// guest keeps writing through its write TLB entry, on either engine, is logged again after every drain, and DMA
/// writes are logged too.
/// </summary>
public sealed class RamWriteLogTests
{
    private const uint DataPage = 0x20000, StorePage = 0x30000;

    private static bool Logged(ulong[] log, uint address) => (log[address >> 18] & (1UL << (int)(address >> 12))) != 0;

    [Theory]
    [InlineData(CpuEngine.Interpreter)]
    [InlineData(CpuEngine.Jit)]
    public void APageWrittenThroughTheWriteTlbIsLoggedAgainAfterEveryDrain(CpuEngine engine)
    {
        var m = new TestMachine();
        m.Cpu.Engine = engine;
        m.Cpu.JitThreshold = 1;
        m.LoadBootTo32(a =>
        {
            var top = a.CreateLabel();
            a.mov(ebx, DataPage);
            a.mov(ecx, StorePage);
            a.Label(ref top);
            a.inc(__dword_ptr[ebx]);
            a.mov(__dword_ptr[ecx + 4], eax);
            a.add(eax, 3);
            a.jmp(top);
        });
        var log = new ulong[m.Memory.RamPageWords];
        for (int round = 0; round < 4; round++)
        {
            uint before = m.ReadU32(DataPage);
            m.Cpu.Run(5_000);
            Assert.NotEqual(before, m.ReadU32(DataPage));
            Array.Clear(log);
            m.Memory.DrainRamWriteLog(log);
            Assert.True(Logged(log, DataPage), $"round {round}: the counter's page is not in the log");
            Assert.True(Logged(log, StorePage), $"round {round}: the stored page is not in the log");
            Array.Clear(log);
            m.Memory.DrainRamWriteLog(log);
            Assert.All(log, w => Assert.Equal(0UL, w)); // nothing ran in between: the drain started a new log
        }
        if (engine == CpuEngine.Jit) Assert.True(m.Cpu.JitStatistics.InstructionsInBlocks > 0, m.Cpu.JitStatistics.ToString());
    }

    [Fact]
    public void DmaWritesAndDirectWritersAreLogged()
    {
        var m = new TestMachine();
        var log = new ulong[m.Memory.RamPageWords];
        m.Memory.DrainRamWriteLog(log);
        Array.Clear(log);
        m.Memory.Write(0x41FFE, [1, 2, 3, 4]); // straddles two pages
        m.Memory.Ram[0x70000] = 9;
        m.Memory.LogRamWrites(0x70000, 1);
        m.Memory.DrainRamWriteLog(log);
        Assert.True(Logged(log, 0x41000) && Logged(log, 0x42000) && Logged(log, 0x70000));
        Assert.False(Logged(log, 0x43000));
    }
}
