using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The CPU's side of the local APIC (issue 15): CPUID.1:EDX.APIC and the initial APIC ID, IA32_APIC_BASE (MSR 0x1B)
/// through <see cref="IApicBaseRegister"/>, CPUID leaf 2 and leaves beyond the highest, and the NMI input.
/// </summary>
public sealed class LocalApicCpuTests
{
    private sealed class FakeApic : IInterruptController, IApicBaseRegister
    {
        public ulong Base = 0xFEE0_0900;
        public byte? Pending;
        public bool InterruptPending => Pending.HasValue;
        public byte AcknowledgeInterrupt() { byte v = Pending ?? 0xFF; Pending = null; return v; }
        public ulong ApicBase => Base;
        public byte InitialApicId => 0;
        public bool TrySetApicBase(ulong value)
        {
            if ((value & ~0xFFFF_F900UL) != 0) return false;
            Base = value;
            return true;
        }
    }

    private static (X86Cpu Cpu, PhysicalMemory Memory) Real(IInterruptController controller, Action<Iced.Intel.Assembler> code)
    {
        var memory = new PhysicalMemory(8 << 20);
        var cpu = new X86Cpu(memory, new TestBus(), controller);
        memory.Write(0x1000, TestMachine.Assemble(16, 0x1000, code));
        cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        cpu.SetSegmentReal(SegmentRegister.Ss, 0);
        cpu.Esp = 0x8000;
        cpu.Eip = 0x1000;
        return (cpu, memory);
    }

    private static void RunToHalt(X86Cpu cpu)
    {
        for (int i = 0; i < 100 && !cpu.Halted; i++) cpu.Run(10_000);
        Assert.True(cpu.Halted, $"guest did not halt: EIP={cpu.Eip:X8}");
    }

    private static uint U32(PhysicalMemory memory, uint address)
    {
        var b = new byte[4];
        memory.Read(address, b);
        return BitConverter.ToUInt32(b);
    }

    [Fact]
    public void CpuidReportsTheApicAndRdmsrReadsTheApicBase()
    {
        var apic = new FakeApic();
        var (cpu, memory) = Real(apic, a =>
        {
            a.mov(eax, 1);
            a.cpuid();
            a.mov(__[0x3000], edx);
            a.mov(__[0x3004], ebx);
            a.mov(ecx, 0x1B);
            a.rdmsr();
            a.mov(__[0x3008], eax);
            a.mov(__[0x300C], edx);
            a.and(eax, unchecked((int)~0x800u));         // global disable
            a.wrmsr();
            a.mov(eax, 1);
            a.cpuid();
            a.mov(__[0x3010], edx);
            a.hlt();
        });
        RunToHalt(cpu);
        Assert.Equal(0x813Fu | X86Cpu.CpuidApic, U32(memory, 0x3000));
        Assert.Equal(0u, U32(memory, 0x3004) >> 24);      // initial APIC ID 0
        Assert.Equal(0xFEE0_0900u, U32(memory, 0x3008));
        Assert.Equal(0u, U32(memory, 0x300C));
        Assert.Equal(0xFEE0_0100UL, apic.Base);
        Assert.Equal(0x813Fu, U32(memory, 0x3010));       // the APIC bit follows the global enable
    }

    [Fact]
    public void WrmsrApicBaseWithReservedBitsIsGeneralProtection()
    {
        var apic = new FakeApic();
        var (cpu, _) = Real(apic, a =>
        {
            a.mov(ecx, 0x1B);
            a.mov(eax, unchecked((int)0xFEE0_0901u));       // bit 0 reserved
            a.xor(edx, edx);
            a.wrmsr();
            a.hlt();
        });
        int vector = -1;
        cpu.ExceptionRaised += (v, _) => vector = vector < 0 ? v : vector;
        cpu.Run(20);
        Assert.Equal(13, vector);
        Assert.Equal(0xFEE0_0900UL, apic.Base);
    }

    [Fact]
    public void WithoutAnApicCpuidHasNoApicBitAndRdmsr1BIsGeneralProtection()
    {
        var (cpu, memory) = Real(new TestInterrupts(), a =>
        {
            a.mov(eax, 1);
            a.cpuid();
            a.mov(__[0x3000], edx);
            a.mov(ecx, 0x1B);
            a.rdmsr();
            a.hlt();
        });
        int vector = -1;
        cpu.ExceptionRaised += (v, _) => vector = vector < 0 ? v : vector;
        cpu.Run(20);
        Assert.Equal(0x813Fu, U32(memory, 0x3000));
        Assert.Equal(13, vector);
    }

    /// <summary>
    /// Leaf 0 reports 2 as the highest basic leaf; leaf 2 gives a Pentium II's cache and TLB descriptors; a leaf above
    /// the highest (0x80000000 on a processor without extended leaves, or 5) returns leaf 2's data (SDM vol. 2 CPUID).
    /// </summary>
    [Theory]
    [InlineData(2u)]
    [InlineData(5u)]
    [InlineData(0x8000_0000u)]
    public void CpuidLeafTwoAndBeyondReportTheCacheDescriptors(uint leaf)
    {
        var (cpu, memory) = Real(new TestInterrupts(), a =>
        {
            a.xor(eax, eax);
            a.cpuid();
            a.mov(__[0x3000], eax);
            a.mov(eax, (int)leaf);
            a.cpuid();
            a.hlt();
        });
        RunToHalt(cpu);
        Assert.Equal(2u, U32(memory, 0x3000));
        Assert.Equal(0x0302_0101u, cpu.Eax);              // one iteration; ITLB 4K, ITLB 4M, DTLB 4K
        Assert.Equal(0u, cpu.Ebx);
        Assert.Equal(0u, cpu.Ecx);
        Assert.Equal(0x0C04_0843u, cpu.Edx);              // L2 512K, L1I 16K, DTLB 4M, L1D 16K
    }

    /// <summary>The NMI tests' main program: IF = 0, counts [0x3004] up to 1000, halts.</summary>
    private static void CountToAThousandWithInterruptsOff(Assembler a)
    {
        var loop = a.CreateLabel();
        a.cli();
        a.Label(ref loop);
        a.inc(__dword_ptr[0x3004]);
        a.cmp(__dword_ptr[0x3004], 1000);
        a.jb(loop);
        a.hlt();
    }

    /// <summary>
    /// An NMI is taken with IF = 0 (vector 2), and a second one waits until the handler's IRET (SDM vol. 3 §6.7.1).
    /// </summary>
    [Fact]
    public void NmiIsTakenWithInterruptsDisabledAndBlocksFurtherNmisUntilIret()
    {
        var (cpu, memory) = Real(new TestInterrupts(), CountToAThousandWithInterruptsOff);
        // NMI handler at 0x1200: counts, and spins 200 instructions so a second NMI arrives inside it.
        memory.Write(0x1200, TestMachine.Assemble(16, 0x1200, a =>
        {
            var spin = a.CreateLabel();
            a.inc(__dword_ptr[0x3000]);
            a.mov(cx, 100);
            a.Label(ref spin);
            a.loop(spin);
            a.iret();
        }));
        memory.Write(2 * 4, BitConverter.GetBytes(0x0000_1200u));
        cpu.Run(10);
        cpu.RaiseNmi();
        cpu.Run(5);                                       // inside the handler
        Assert.Equal(1u, U32(memory, 0x3000));
        cpu.RaiseNmi();
        cpu.Run(50);
        Assert.Equal(1u, U32(memory, 0x3000));            // blocked until IRET
        RunToHalt(cpu);
        Assert.Equal(2u, U32(memory, 0x3000));
        Assert.Equal(1000u, U32(memory, 0x3004));
    }

    /// <summary>
    /// savevm inside an NMI handler with a second NMI latched: the restored CPU keeps both the blocking (the second
    /// NMI does not nest into the running handler) and the latch (it is taken right after the handler's IRET).
    /// </summary>
    [Fact]
    public void SavedStateKeepsNmiBlockingAndTheLatchedNmi()
    {
        var (cpu, memory) = Real(new TestInterrupts(), CountToAThousandWithInterruptsOff);
        // Handler: counts, records SP at entry (a nested entry would show a lower one), spins, returns.
        memory.Write(0x1200, TestMachine.Assemble(16, 0x1200, a =>
        {
            var spin = a.CreateLabel();
            a.inc(__dword_ptr[0x3000]);
            a.mov(bx, __word_ptr[0x3000]);
            a.shl(bx, 1);
            a.mov(__word_ptr[bx + 0x3100], sp);
            a.mov(cx, 100);
            a.Label(ref spin);
            a.loop(spin);
            a.iret();
        }));
        memory.Write(2 * 4, BitConverter.GetBytes(0x0000_1200u));
        cpu.Run(10);
        cpu.RaiseNmi();
        cpu.Run(10);
        cpu.RaiseNmi();
        cpu.Run(20);                                      // still inside the first handler, second NMI latched
        Assert.Equal(1u, U32(memory, 0x3000));

        var state = new MemoryStream();
        using (var w = new BinaryWriter(state, System.Text.Encoding.UTF8, leaveOpen: true)) cpu.SaveState(w);
        var ram = new byte[8 << 20];
        memory.Read(0, ram);
        var memory2 = new PhysicalMemory(8 << 20);
        memory2.Write(0, ram);
        var restored = new X86Cpu(memory2, new TestBus(), new TestInterrupts());
        state.Position = 0;
        restored.LoadState(new BinaryReader(state));

        restored.Run(20);
        Assert.Equal(1u, U32(memory2, 0x3000));           // blocking survived: no nested NMI
        RunToHalt(restored);
        Assert.Equal(2u, U32(memory2, 0x3000));           // the latched NMI was taken after IRET
        var sps = new byte[4];
        memory2.Read(0x3102, sps);
        Assert.Equal(BitConverter.ToUInt16(sps, 0), BitConverter.ToUInt16(sps, 2)); // same stack depth: not nested
        Assert.Equal(1000u, U32(memory2, 0x3004));
    }
}
