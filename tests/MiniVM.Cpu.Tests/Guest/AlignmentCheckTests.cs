using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// #AC (vector 17, error code 0, a fault) as SDM vol. 3 §6.15 and Table 6-7 give it: only with CR0.AM, EFLAGS.AC and
/// CPL 3 together, for a word at an odd address or a doubleword not a multiple of four; bytes and aligned operands
/// never fault. The misaligned access comes at the 1500th pass of a hot loop, under both engines with the
/// translator's threshold at 1: the checks hold for code that would otherwise run as a translated block.
/// </summary>
public sealed class AlignmentCheckTests
{
    private const uint Ring0Stack = 0x90000, Ring3Stack = 0x70000, Vector = 0x3030, Error = 0x3020, FaultCs = 0x3024, FaultEcx = 0x3028, Done = 0x3010;

    private static TestMachine Machine(string engine, bool am, bool ac, bool ring3)
    {
        var m = new TestMachine();
        m.Cpu.Use(engine);
        m.Cpu.JitThreshold = 1;
        uint flags = 0x2 | (ac ? 0x40000u : 0);
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            if (am)
            {
                a.mov(eax, cr0);
                a.or(eax, 0x40000);
                a.mov(cr0, eax);
            }
            if (ring3)
            {
                a.push(TestMachine.UserData);
                a.push(Ring3Stack);
                a.push(flags);
                a.push(TestMachine.UserCode);
                a.push(0x2800);
                a.iretd();
            }
            else
            {
                a.push(flags);
                a.popfd();
                a.mov(eax, 0x2800);
                a.jmp(eax);
            }
        });
        m.WriteU32(TestMachine.Tss1 + 4, Ring0Stack);
        m.WriteU32(TestMachine.Tss1 + 8, TestMachine.Data32);
        m.Load(32, 0x2800, a =>
        {
            var loop = a.CreateLabel();
            var aligned = a.CreateLabel();
            if (ring3)
            {
                a.mov(ax, TestMachine.UserData);
                a.mov(ds, ax);
                a.mov(es, ax);
            }
            a.mov(esi, 0x5000);
            a.xor(ecx, ecx);
            a.Label(ref loop);
            a.cmp(ecx, 1500);
            a.jne(aligned);
            a.inc(esi);                                  // from here on the dword reads are misaligned
            a.Label(ref aligned);
            a.mov(eax, __dword_ptr[esi + 4]);
            a.mov(bx, __word_ptr[0x5002]);               // aligned word
            a.mov(dl, __byte_ptr[0x5003]);               // bytes are never misaligned
            a.push(eax);                                 // aligned stack accesses
            a.pop(eax);
            a.inc(ecx);
            a.cmp(ecx, 2000);
            a.jne(loop);
            a.mov(__dword_ptr[Done], 1);
            a.hlt();                                     // at ring 3: #GP, which ends the run too
        });
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x4800, 0xE, 0));
        m.Load(32, 0x4800, a =>
        {
            a.mov(__dword_ptr[Vector], 13);
            a.hlt();
        });
        m.SetIdt(17, TestMachine.Gate(TestMachine.Code32, 0x4400, 0xE, 0));
        m.Load(32, 0x4400, a =>
        {
            a.mov(__dword_ptr[Vector], 17);
            a.mov(eax, __dword_ptr[esp]);
            a.mov(__dword_ptr[Error], eax);
            a.mov(eax, __dword_ptr[esp + 8]);
            a.mov(__dword_ptr[FaultCs], eax);
            a.mov(__dword_ptr[FaultEcx], ecx);
            a.hlt();
        });
        m.WriteU32(Error, 0xDEAD);
        return m;
    }

    [Theory]
    [InlineData(CpuEngines.Interpreter)]
    [InlineData(CpuEngines.Jit)]
    public void AMisalignedDwordAtCpl3WithAmAndAcIsAlignmentCheckWithErrorCodeZero(string engine)
    {
        var m = Machine(engine, am: true, ac: true, ring3: true);
        m.RunToHalt(200_000);
        Assert.Equal(17u, m.ReadU32(Vector));
        Assert.Equal(0u, m.ReadU32(Error));
        Assert.Equal((uint)TestMachine.UserCode, m.ReadU32(FaultCs));
        Assert.Equal(1500u, m.ReadU32(FaultEcx));       // the first misaligned read, not before, not after
        Assert.Equal(0u, m.ReadU32(Done));
    }

    [Theory]
    [InlineData(CpuEngines.Interpreter, false, true, true)]
    [InlineData(CpuEngines.Interpreter, true, false, true)]
    [InlineData(CpuEngines.Interpreter, true, true, false)]
    [InlineData(CpuEngines.Jit, false, true, true)]
    [InlineData(CpuEngines.Jit, true, false, true)]
    [InlineData(CpuEngines.Jit, true, true, false)]
    public void WithoutAllThreeConditionsMisalignedAccessesRunOn(string engine, bool am, bool ac, bool ring3)
    {
        var m = Machine(engine, am, ac, ring3);
        m.RunToHalt(200_000);
        Assert.Equal(1u, m.ReadU32(Done));
        Assert.Equal(ring3 ? 13u : 0u, m.ReadU32(Vector)); // ring 3 ends with HLT's #GP, ring 0 just halts
        Assert.Equal(0xDEADu, m.ReadU32(Error));
        if (engine == CpuEngines.Jit) Assert.True(m.Cpu.JitStatistics.BlockRuns > 0, "the hot loop ran translated");
    }
}
