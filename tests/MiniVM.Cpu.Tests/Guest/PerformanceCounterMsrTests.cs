using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The P6 performance-monitoring MSRs (SDM vol. 3, "Performance Monitoring (P6 Family Processor)"): PerfEvtSel0/1
/// (0x186/0x187) read back what was written and refuse bits 63:32 with #GP; PerfCtr0/1 (0xC1/0xC2) are 40 bits wide
/// and WRMSR sign-extends bit 31 of EAX into bits 32-39. Linux probes exactly this ("Failed to access perfctr msr"
/// when it fails). The values travel with savevm.
/// </summary>
public sealed class PerformanceCounterMsrTests
{
    [Fact]
    public void EventSelectsAndCountersReadBackAndAreSaved()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            void Write(uint msr, uint lo, uint hi) { a.mov(ecx, msr); a.mov(eax, lo); a.mov(edx, hi); a.wrmsr(); }
            void Read(uint msr, uint at) { a.mov(ecx, msr); a.rdmsr(); a.mov(__dword_ptr[at], eax); a.mov(__dword_ptr[at + 4], edx); }
            Write(0x186, 0x0043_00C0, 0);
            Write(0x187, 0x0041_0079, 0);
            Write(0xC1, 0x8000_0001, 0);                 // bit 31 set: bits 32-39 become ones
            Write(0xC2, 0x1234_5678, 0xFFFF_FFFF);       // EDX is ignored, bit 31 clear: bits 32-39 zero
            Read(0x186, 0x3000);
            Read(0x187, 0x3008);
            Read(0xC1, 0x3010);
            Read(0xC2, 0x3018);
            var spin = a.CreateLabel();
            a.Label(ref spin);
            a.jmp(spin);                                 // not HLT: the restored CPU must run on from its EIP
        });
        m.Cpu.Run(10_000);
        Assert.Equal(0x0043_00C0u, m.ReadU32(0x3000));
        Assert.Equal(0u, m.ReadU32(0x3004));
        Assert.Equal(0x0041_0079u, m.ReadU32(0x3008));
        Assert.Equal(0x8000_0001u, m.ReadU32(0x3010));
        Assert.Equal(0xFFu, m.ReadU32(0x3014));
        Assert.Equal(0x1234_5678u, m.ReadU32(0x3018));
        Assert.Equal(0u, m.ReadU32(0x301C));

        var state = new MemoryStream();
        using (var w = new BinaryWriter(state, System.Text.Encoding.UTF8, leaveOpen: true)) m.Cpu.SaveState(w);
        var other = new TestMachine();
        other.Memory.Write(0, ReadAll(m));
        state.Position = 0;
        other.Cpu.LoadState(new BinaryReader(state));
        other.Load(32, 0x2800, a =>
        {
            a.mov(ecx, 0xC1);
            a.rdmsr();
            a.mov(__dword_ptr[0x3100], eax);
            a.mov(__dword_ptr[0x3104], edx);
            a.mov(ecx, 0x187);
            a.rdmsr();
            a.mov(__dword_ptr[0x3108], eax);
            a.hlt();
        });
        other.Cpu.Eip = 0x2800;
        other.RunToHalt();
        Assert.Equal(0x8000_0001u, other.ReadU32(0x3100));
        Assert.Equal(0xFFu, other.ReadU32(0x3104));
        Assert.Equal(0x0041_0079u, other.ReadU32(0x3108));
    }

    [Fact]
    public void ReservedEventSelectBitsAreGeneralProtection()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ecx, 0x186);
            a.xor(eax, eax);
            a.mov(edx, 1);
            a.wrmsr();
            a.hlt();
        });
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x4800, 0xE, 0));
        m.Load(32, 0x4800, a =>
        {
            a.mov(__dword_ptr[0x3030], 13);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(13u, m.ReadU32(0x3030));
    }

    private static byte[] ReadAll(TestMachine m)
    {
        var ram = new byte[8 << 20];
        m.Memory.Read(0, ram);
        return ram;
    }
}
