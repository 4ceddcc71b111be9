using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The P6 performance counters (SDM vol. 3, "Performance Monitoring (P6 Family Processor)"; RDPMC in vol. 2):
/// PerfEvtSel0/1 (0x186/0x187) keep what is written and refuse bits 63:32; PerfCtr0/1 (0xC1/0xC2) are 40 bits and
/// WRMSR sign-extends bit 31; PerfEvtSel0's EN bit starts both counters; events 0xC0 (instructions retired) and 0x79
/// (clocks, counted as instructions) count the CPU's exact instruction count, under both engines and across savevm.
/// RDPMC is #GP at CPL 3 unless CR4.PCE, and for ECX other than 0 and 1. Linux probes the MSRs ("Failed to access
/// perfctr msr" otherwise) and reads the counters with RDPMC.
/// </summary>
public sealed class PerformanceCounterTests
{
    private const uint Ctr0 = 0x3000, Ctr1 = 0x3008, Frozen = 0x3010, Vector = 0x3030, Done = 0x3034;

    private static void Wrmsr(Assembler a, uint msr, uint lo, uint hi = 0)
    {
        a.mov(ecx, msr); a.mov(eax, lo); a.mov(edx, hi); a.wrmsr();
    }

    private static void Rdpmc(Assembler a, uint counter, uint at)
    {
        a.mov(ecx, counter); a.rdpmc(); a.mov(__dword_ptr[at], eax); a.mov(__dword_ptr[at + 4], edx);
    }

    [Fact]
    public void EventSelectsAndCountersReadBackAsWrittenWhileDisabled()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            void Read(uint msr, uint at) { a.mov(ecx, msr); a.rdmsr(); a.mov(__dword_ptr[at], eax); a.mov(__dword_ptr[at + 4], edx); }
            Wrmsr(a, 0x186, 0x0003_00C0);                 // no EN: nothing counts
            Wrmsr(a, 0x187, 0x0041_0079);
            Wrmsr(a, 0xC1, 0x8000_0001);                  // bit 31 set: bits 32-39 become ones
            Wrmsr(a, 0xC2, 0x1234_5678, 0xFFFF_FFFF);     // EDX is ignored, bit 31 clear: bits 32-39 zero
            for (int i = 0; i < 20; i++) a.nop();
            Read(0x186, 0x3100);
            Read(0x187, 0x3108);
            Read(0xC1, 0x3110);
            Read(0xC2, 0x3118);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(0x0003_00C0u, m.ReadU32(0x3100));
        Assert.Equal(0u, m.ReadU32(0x3104));
        Assert.Equal(0x0041_0079u, m.ReadU32(0x3108));
        Assert.Equal(0u, m.ReadU32(0x310C));
        Assert.Equal(0x8000_0001u, m.ReadU32(0x3110));
        Assert.Equal(0xFFu, m.ReadU32(0x3114));
        Assert.Equal(0x1234_5678u, m.ReadU32(0x3118));
        Assert.Equal(0u, m.ReadU32(0x311C));
    }

    [Theory]
    [InlineData(0x186u, 0u, 1u)]   // PerfEvtSel0 bits 63:32 reserved
    [InlineData(0x187u, 0u, 0x100u)]
    public void ReservedEventSelectBitsAreGeneralProtection(uint msr, uint lo, uint hi)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            Wrmsr(a, msr, lo, hi);
            a.mov(__dword_ptr[Done], 1);
            a.hlt();
        });
        HandleGp(m);
        m.RunToHalt();
        Assert.Equal(13u, m.ReadU32(Vector));
        Assert.Equal(0u, m.ReadU32(Done));
    }

    /// <summary>
    /// Counter 0 counts instructions retired from 0, counter 1 clocks from -1000 (it wraps through 2^40); EN is set by
    /// the WRMSR to PerfEvtSel0, which is itself counted. A 3000-pass loop of three instructions runs as a translated
    /// block under the JIT. Clearing EN freezes both counters.
    /// </summary>
    [Theory]
    [InlineData(CpuEngines.Interpreter)]
    [InlineData(CpuEngines.Jit)]
    public void EnabledCountersCountExactlyTheInstructionsRetiredAcrossAHotLoop(string engine)
    {
        var m = new TestMachine();
        m.Cpu.Use(engine);
        m.Cpu.JitThreshold = 1;
        m.LoadBootTo32(a =>
        {
            Wrmsr(a, 0x187, 0x0003_0079);
            Wrmsr(a, 0xC1, 0);
            Wrmsr(a, 0xC2, unchecked((uint)-1000));
            Wrmsr(a, 0x186, 0x0043_00C0);                // EN: both count from this WRMSR on (1)
            var loop = a.CreateLabel();
            a.xor(ebx, ebx);                              // 1
            a.Label(ref loop);
            a.inc(ebx);                                   // 3 x 3000
            a.cmp(ebx, 3000);
            a.jne(loop);
            Rdpmc(a, 0, Ctr0);                            // counter 0 = 9003 when RDPMC runs; then 4 more
            Rdpmc(a, 1, Ctr1);                            // counter 1 = -1000 + 9007; then 3 more
            Wrmsr(a, 0x186, 0x0003_00C0);                 // 3 more before this WRMSR, which stops both counters
            a.xor(ebx, ebx);
            var idle = a.CreateLabel();
            a.Label(ref idle);
            a.inc(ebx);
            a.cmp(ebx, 100);
            a.jne(idle);
            Rdpmc(a, 0, Frozen);
            a.hlt();
        });
        m.RunToHalt(200_000);
        Assert.Equal(9003ul, U64(m, Ctr0));
        Assert.Equal(8007ul, U64(m, Ctr1));
        Assert.Equal(9003ul + 4 + 3 + 3, U64(m, Frozen));
        if (engine == CpuEngines.Jit) Assert.True(m.Cpu.JitStatistics.BlockRuns > 0, "the loop ran translated");
    }

    [Fact]
    public void OtherEventsAndCountersWithoutPrivilegeLevelCountNothing()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            Wrmsr(a, 0xC1, 5);
            Wrmsr(a, 0xC2, 7);
            Wrmsr(a, 0x187, 0x0003_002E);                // an event MiniVM does not model
            Wrmsr(a, 0x186, 0x0040_00C0);                 // EN, but neither USR nor OS
            for (int i = 0; i < 50; i++) a.nop();
            Rdpmc(a, 0, Ctr0);
            Rdpmc(a, 1, Ctr1);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(5ul, U64(m, Ctr0));
        Assert.Equal(7ul, U64(m, Ctr1));
    }

    /// <summary>RDPMC at CPL 3 needs CR4.PCE (else #GP(0)); ECX above 1 is #GP(0) at any CPL.</summary>
    [Theory]
    [InlineData(false, false, 0u, true)]
    [InlineData(false, false, 2u, false)]
    [InlineData(true, false, 0u, false)]
    [InlineData(true, true, 1u, true)]
    [InlineData(true, true, 2u, false)]
    public void RdpmcPrivilegeAndCounterNumber(bool ring3, bool pce, uint counter, bool allowed)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            Wrmsr(a, 0xC1, 0x1111);
            Wrmsr(a, 0xC2, 0x2222);
            if (pce)
            {
                a.mov(eax, cr4);
                a.or(eax, 0x100);
                a.mov(cr4, eax);
            }
            if (ring3)
            {
                a.push(TestMachine.UserData);
                a.push(0x70000);
                a.push(0x2);
                a.push(TestMachine.UserCode);
                a.push(0x2800);
                a.iretd();
            }
            else
            {
                a.mov(eax, 0x2800);
                a.jmp(eax);
            }
        });
        m.WriteU32(TestMachine.Tss1 + 4, 0x90000);
        m.WriteU32(TestMachine.Tss1 + 8, TestMachine.Data32);
        m.Load(32, 0x2800, a =>
        {
            if (ring3) { a.mov(ax, TestMachine.UserData); a.mov(ds, ax); }
            a.mov(ecx, counter);
            a.rdpmc();
            a.mov(__dword_ptr[Ctr0], eax);
            a.mov(__dword_ptr[Done], 1);
            a.hlt();                                      // at CPL 3 a #GP too, after Done
        });
        HandleGp(m);
        m.RunToHalt();
        Assert.Equal(allowed ? 1u : 0u, m.ReadU32(Done));
        if (allowed) Assert.Equal(counter == 0 ? 0x1111u : 0x2222u, m.ReadU32(Ctr0));
        else Assert.Equal(13u, m.ReadU32(Vector));
    }

    /// <summary>
    /// savevm in the middle of a counting loop and loadvm into another CPU: the restored counters go on from where
    /// they were, so the final RDPMC reads what an uninterrupted run reads; the event selects come back too.
    /// </summary>
    [Theory]
    [InlineData(CpuEngines.Interpreter)]
    [InlineData(CpuEngines.Jit)]
    public void SavedStateCarriesTheCountersToTheInstruction(string engine)
    {
        static void Program(Assembler a)
        {
            Wrmsr(a, 0xC2, 0x8000_0000);                 // counter 1 from 0xFF_8000_0000
            Wrmsr(a, 0x187, 0x0002_0079);
            Wrmsr(a, 0x186, 0x0041_00C0);
            var loop = a.CreateLabel();
            a.xor(ebx, ebx);
            a.Label(ref loop);
            a.inc(ebx);
            a.cmp(ebx, 20_000);
            a.jne(loop);
            Rdpmc(a, 0, Ctr0);
            Rdpmc(a, 1, Ctr1);
            a.mov(ecx, 0x187);
            a.rdmsr();
            a.mov(__dword_ptr[Frozen], eax);
            a.hlt();
        }
        TestMachine New()
        {
            var t = new TestMachine();
            t.Cpu.Use(engine);
            t.Cpu.JitThreshold = 1;
            return t;
        }
        var whole = New();
        whole.LoadBootTo32(Program);
        whole.RunToHalt(200_000);

        var first = New();
        first.LoadBootTo32(Program);
        Assert.Equal(25_000, first.Cpu.Run(25_000));
        Assert.False(first.Cpu.Halted);
        var state = new MemoryStream();
        using (var w = new BinaryWriter(state, System.Text.Encoding.UTF8, leaveOpen: true)) first.Cpu.SaveState(w);
        var ram = new byte[8 << 20];
        first.Memory.Read(0, ram);

        var second = New();
        second.Memory.Write(0, ram);
        state.Position = 0;
        second.Cpu.LoadState(new BinaryReader(state));
        second.RunToHalt(200_000);

        Assert.Equal(60_003ul, U64(whole, Ctr0));        // WRMSR + XOR + 3 x 20000 + MOV ECX
        Assert.Equal(U64(whole, Ctr0), U64(second, Ctr0));
        Assert.Equal(U64(whole, Ctr1), U64(second, Ctr1));
        Assert.Equal(0xFF_8000_0000ul + 60_007, U64(second, Ctr1));
        Assert.Equal(0x0002_0079u, second.ReadU32(Frozen));
    }

    private static ulong U64(TestMachine m, uint at) => m.ReadU32(at) | (ulong)m.ReadU32(at + 4) << 32;

    private static void HandleGp(TestMachine m)
    {
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x4800, 0xE, 0));
        m.Load(32, 0x4800, a =>
        {
            a.mov(ax, TestMachine.Data32);
            a.mov(ds, ax);
            a.mov(__dword_ptr[Vector], 13);
            a.hlt();
        });
    }
}
