using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Support.EngineComparison;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The translating engine against the interpreter on the cases its design has to get right: a fault in the
/// middle of a block, a block that writes into its own code, a budget that ends inside a block, MMIO reached from
/// a block (the device must see the exact instruction count), and switching engines between runs.
/// </summary>
public sealed class JitEngineTests
{
    /// <summary>The same program loaded into a JIT machine and an interpreter machine.</summary>
    private static (TestMachine Jit, TestMachine Interp) BothEngines(Action<Assembler> program)
    {
        var jit = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        jit.LoadBootTo32(program);
        interp.LoadBootTo32(program);
        return (jit, interp);
    }

    /// <summary>Runs both machines to the halt in random Run(1..maxBudget) slices, comparing counts and state after each.</summary>
    [Fact]
    public void LoopRunsInTranslatedBlocksWithTheInterpretersResultAndCount()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 5000);
            a.xor(eax, eax);
            a.mov(ebx, 0x10000);
            a.Label(ref top);
            a.add(eax, __dword_ptr[ebx + ecx * 4]);
            a.mov(__dword_ptr[ebx + ecx * 4 + 4], eax);
            a.lea(edx, __dword_ptr[eax + ecx * 2 + 7]);
            a.xor(eax, edx);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var (jit, interp) = BothEngines(Program);
        jit.RunToHalt(100_000);
        interp.RunToHalt(100_000);
        Assert.Equal(Snapshot(interp), Snapshot(jit));
        Assert.True(jit.Cpu.JitStatistics.InstructionsInBlocks > 25_000, jit.Cpu.JitStatistics.ToString());
        Assert.Equal(0, interp.Cpu.JitStatistics.BlockRuns);
    }

    [Fact]
    public void FaultInTheMiddleOfABlockIsDeliveredAtTheFaultingInstructionWithEarlierStateKept()
    {
        // #GP from a store beyond DS's limit, third instruction of a straight-line block; the handler records EIP
        // (from the exception frame), EAX/EBX as the block left them, and the count.
        void Program(Assembler a)
        {
            a.mov(eax, 0x11111111);
            a.mov(ebx, 0x22222222);
            a.mov(__dword_ptr[0xFFFFFFFF], eax); // crosses the 4 GiB limit: #GP(0)
            a.mov(ebx, 0x33333333);
            a.hlt();
        }
        var results = new List<uint[]>();
        foreach (var engine in new[] { CpuEngine.Interpreter, CpuEngine.Jit })
        {
            var m = NewMachine(engine);
            m.LoadBootTo32(Program);
            m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x4000, 0xE, 0));
            m.Load(32, 0x4000, a =>
            {
                a.pop(ecx);                // error code
                a.pop(edx);                // faulting EIP
                a.hlt();
            });
            m.RunToHalt(10_000);
            results.Add(Snapshot(m));
            Assert.Equal(0x11111111u, m.Cpu.Eax);
            Assert.Equal(0x22222222u, m.Cpu.Ebx);
            Assert.Equal(0u, m.Cpu.Ecx);
            if (engine == CpuEngine.Jit) Assert.True(m.Cpu.JitStatistics.BlockRuns > 0);
        }
        Assert.Equal(results[0], results[1]);
    }

    [Fact]
    public void BlockThatStoresIntoItsOwnLaterInstructionRunsTheNewInstruction()
    {
        // The store patches the immediate of the MOV right after it, inside the same block.
        void Program(Assembler a)
        {
            var patch = a.CreateLabel();
            var top = a.CreateLabel();
            a.mov(ecx, 3);
            a.xor(ebx, ebx);
            a.Label(ref top);
            a.mov(__dword_ptr[0x2100 + 1], ecx);  // overwrite the imm32 of the MOV at 0x2100
            a.jmp(patch);
            a.nop();
            a.Label(ref patch);
            a.add(ebx, eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var results = new List<uint[]>();
        foreach (var engine in new[] { CpuEngine.Interpreter, CpuEngine.Jit })
        {
            var m = NewMachine(engine);
            m.LoadBootTo32(a => a.jmp(0x2080));
            m.Load(32, 0x2080, Program);
            m.Load(32, 0x2100, a => { a.mov(eax, 0x1000); a.ret(); });
            m.RunToHalt(10_000);
            results.Add(Snapshot(m));
        }
        Assert.Equal(results[0], results[1]);
        // And in one block: store to the next instruction's immediate, then execute it.
        foreach (var engine in new[] { CpuEngine.Interpreter, CpuEngine.Jit })
        {
            var m = NewMachine(engine);
            m.LoadBootTo32(a => a.jmp(0x2200));
            var body = TestMachine.Assemble(32, 0x2200, a =>
            {
                a.mov(edx, 0x7777);
                a.mov(__dword_ptr[0x2200 + 11 + 1], edx); // 0x220B: the MOV EAX below (B8 imm32)
                a.mov(eax, 0x1111);
                a.hlt();
            });
            m.Load(0x2200, body);
            m.RunToHalt(10_000);
            Assert.Equal(0x7777u, m.Cpu.Eax);
        }
    }

    [Fact]
    public void RunBudgetsThatEndInsideABlockGiveTheInterpretersStateAfterEveryCall()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 300);
            a.Label(ref top);
            a.add(eax, ecx);
            a.imul(ebx, eax, 3);
            a.push(ebx);
            a.pop(esi);
            a.xor(esi, eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var (jit, interp) = BothEngines(Program);
        RunInRandomBudgets(jit, interp, seed: 7, maxBudget: 12);
        Assert.True(jit.Cpu.JitStatistics.BlockRuns > 50, jit.Cpu.JitStatistics.ToString());
    }

    [Fact]
    public void BranchesInsideABlockKeepTheInterpretersStateAndCountUnderEveryBudget()
    {
        // One block holds a loop whose head is not the block's first instruction, a forward skip taken on odd
        // counts, a conditional exit out of the block and the flags merging at the skip's target; random Run(n)
        // budgets end in every part of it, including right at the backward branch.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var even = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(ecx, 400);
            a.mov(ebx, 0x10000);
            a.xor(eax, eax);
            a.Label(ref top);
            a.add(eax, ecx);
            a.test(ecx, 1);
            a.jz(even);
            a.xor(eax, 0x5A5A);
            a.mov(__dword_ptr[ebx + ecx * 4], eax);
            a.Label(ref even);
            a.cmp(ecx, 1000);
            a.ja(done);              // never taken: a branch out of the block
            a.rol(eax, 3);
            a.dec(ecx);
            a.jg(top);               // backward, condition from DEC's lazy record
            a.Label(ref done);
            a.hlt();
        }
        var (jit, interp) = BothEngines(Program);
        RunInRandomBudgets(jit, interp, seed: 11, maxBudget: 40);
        byte[] want = new byte[0x800], got = new byte[0x800];
        interp.Memory.Read(0x10000, want);
        jit.Memory.Read(0x10000, got);
        Assert.Equal(want, got);
        Assert.True(jit.Cpu.JitStatistics.InstructionsInBlocks > 1000, jit.Cpu.JitStatistics.ToString());

        // In one long run the 400 iterations stay inside the IL: a handful of block entries, not one per pass.
        var whole = NewMachine(CpuEngine.Jit);
        whole.LoadBootTo32(Program);
        whole.RunToHalt(100_000);
        Assert.Equal(Snapshot(interp), Snapshot(whole));
        var stats = whole.Cpu.JitStatistics;
        Assert.True(stats.InstructionsInBlocks > 3000, stats.ToString());
        Assert.True(stats.BlockRuns < 10, stats.ToString());
    }

    [Fact]
    public void DeviceReachedFromABlockSeesTheExactInstructionCount()
    {
        var seen = new List<ulong>[2];
        int k = 0;
        foreach (var engine in new[] { CpuEngine.Interpreter, CpuEngine.Jit })
        {
            var m = NewMachine(engine);
            var counts = new List<ulong>();
            seen[k++] = counts;
            m.Memory.MapIo(0xA0000, 0x1000);
            m.Bus.MmioRead = (addr, size) => { counts.Add(m.Cpu.InstructionCount); return 0x5A; };
            m.LoadBootTo32(a =>
            {
                var top = a.CreateLabel();
                a.mov(ecx, 20);
                a.Label(ref top);
                a.inc(eax);
                a.mov(edx, __dword_ptr[0xA0000]);
                a.add(ebx, edx);
                a.inc(eax);
                a.dec(ecx);
                a.jnz(top);
                a.hlt();
            });
            m.RunToHalt(10_000);
            Assert.Equal(20u * 0x5A, m.Cpu.Ebx);
        }
        Assert.Equal(seen[0], seen[1]);
        Assert.Equal(20, seen[1].Count);
    }

    [Fact]
    public void SwitchingEnginesBetweenRunsKeepsTheRunIdenticalAndDropsTranslations()
    {
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ecx, 2000);
            a.Label(ref top);
            a.add(eax, ecx);
            a.rol(eax, 3);
            a.sub(ebx, eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var mixed = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        mixed.LoadBootTo32(Program);
        interp.LoadBootTo32(Program);
        for (int slice = 0; !interp.Cpu.Halted; slice++)
        {
            mixed.Cpu.Engine = slice % 2 == 0 ? CpuEngine.Jit : CpuEngine.Interpreter;
            interp.Cpu.Run(997);
            mixed.Cpu.Run(997);
            Assert.Equal(Snapshot(interp), Snapshot(mixed));
        }
        var stats = mixed.Cpu.JitStatistics;
        Assert.True(stats.Flushes > 0, stats.ToString());
        Assert.True(stats.BlockRuns > 0, stats.ToString());
    }

    [Fact]
    public void FullCodeCacheIsEmptiedAndRefilled()
    {
        var m = NewMachine(CpuEngine.Jit);
        m.Cpu.JitCacheCapacity = 2;
        m.LoadBootTo32(a =>
        {
            var top = a.CreateLabel();
            var l1 = a.CreateLabel();
            var l2 = a.CreateLabel();
            a.mov(ecx, 50);
            a.xor(eax, eax);
            a.xor(ebx, ebx);
            a.Label(ref top);
            a.inc(eax);
            a.jmp(l1);
            a.Label(ref l1);
            a.inc(ebx);
            a.jmp(l2);
            a.Label(ref l2);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        m.RunToHalt(10_000);
        Assert.Equal(50u, m.Cpu.Eax);
        Assert.Equal(50u, m.Cpu.Ebx);
        var stats = m.Cpu.JitStatistics;
        Assert.True(stats.Evictions > 0, stats.ToString());
        Assert.True(stats.LiveBlocks <= 2, stats.ToString());
    }

    [Fact]
    public void CodeCacheStaysWithinItsIlByteBoundAndKeepsResultsRight()
    {
        // A bound smaller than two blocks: each new block empties the cache first, so it never holds more than the
        // bound or one block; the loop's results stay the interpreter's.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var l1 = a.CreateLabel();
            a.mov(ecx, 300);
            a.xor(eax, eax);
            a.Label(ref top);
            a.add(eax, ecx);
            a.jmp(l1);
            a.Label(ref l1);
            a.imul(eax, eax, 5);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var interp = NewMachine(CpuEngine.Interpreter);
        interp.LoadBootTo32(Program);
        interp.RunToHalt(10_000);
        var m = NewMachine(CpuEngine.Jit);
        m.Cpu.JitCacheIlBytes = 64;
        m.LoadBootTo32(Program);
        while (!m.Cpu.Halted)
        {
            m.Cpu.Run(7);
            // Every block here is larger than 64 bytes of IL: the cache holds one at most.
            Assert.True(m.Cpu.JitStatistics.LiveBlocks <= 1, m.Cpu.JitStatistics.ToString());
        }
        Assert.Equal(Snapshot(interp), Snapshot(m));
        var stats = m.Cpu.JitStatistics;
        Assert.True(stats.Evictions > 0, stats.ToString());
        Assert.True(stats.InstructionsInBlocks > 300, stats.ToString());
    }

    [Fact]
    public void MultiPrecisionLoopWithMulAdcSbbMatchesTheInterpreter()
    {
        // The shape of the kernel's mpihelp_addmul_1/submul_1: MUL, ADD/ADC carries, SBB borrows, memory operands.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(esi, 0x10000);
            a.mov(edi, 0x11000);
            a.mov(ecx, 200);
            a.mov(ebx, 0x9E3779B9);
            a.xor(ebp, ebp);
            a.Label(ref top);
            a.mov(eax, __dword_ptr[esi + ecx * 4]);
            a.mul(ebx);
            a.add(eax, ebp);
            a.adc(edx, 0);
            a.sbb(__dword_ptr[edi + ecx * 4], eax);
            a.adc(edx, __dword_ptr[esi + ecx * 4 + 4]);
            a.sbb(eax, edx);
            a.mul(__dword_ptr[edi + ecx * 4]);
            a.adc(ebp, edx);
            a.sbb(ebp, 0x1234);
            a.adc(__dword_ptr[edi + 0x800], eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var results = new List<uint[]>();
        foreach (var engine in new[] { CpuEngine.Interpreter, CpuEngine.Jit })
        {
            var m = NewMachine(engine);
            var data = new byte[0x2000];
            new Random(3).NextBytes(data);
            m.Memory.Write(0x10000, data);
            m.LoadBootTo32(Program);
            m.RunToHalt(100_000);
            var mem = new byte[0x1000];
            m.Memory.Read(0x11000, mem);
            var state = Snapshot(m).Concat(Enumerable.Range(0, 0x400).Select(k => BitConverter.ToUInt32(mem, k * 4))).ToArray();
            results.Add(state);
            if (engine == CpuEngine.Jit) Assert.True(m.Cpu.JitStatistics.InstructionsInBlocks > 2000, m.Cpu.JitStatistics.ToString());
        }
        Assert.Equal(results[0], results[1]);
    }

    [Fact]
    public void StringDivideAndBitInstructionsRunInsideBlocksWithTheInterpretersStateUnderEveryBudget()
    {
        // REP MOVSD over several REP chunks (each counts as one instruction and ends a Run step), REP STOSB downwards,
        // REPE CMPSB, DIV, NEG, NOT, SHLD, BTS/XADD/XCHG on memory, CMPXCHG: all inside the loop's block.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            a.mov(ebp, 6);
            a.Label(ref top);
            a.cld();
            a.mov(esi, 0x10000);
            a.mov(edi, 0x20000);
            a.mov(ecx, 9000);
            a.rep.movsd();
            a.std();
            a.mov(edi, 0x30FFF);
            a.mov(ecx, ebp);
            a.shl(ecx, 5);
            a.mov(eax, ebp);
            a.rep.stosb();
            a.cld();
            a.mov(esi, 0x10000);
            a.mov(edi, 0x20000);
            a.mov(ecx, 100);
            a.repe.cmpsb();
            a.mov(eax, 0x12345678);
            a.xor(edx, edx);
            a.mov(ebx, ebp);
            a.add(ebx, 3);
            a.div(ebx);
            a.neg(edx);
            a.not(eax);
            a.shld(eax, edx, 7);
            a.bts(__dword_ptr[0x30000], ebp);
            a.xadd(__dword_ptr[0x30004], eax);
            a.xchg(__dword_ptr[0x30008], edx);
            a.cmpxchg(__dword_ptr[0x3000C], ebx);
            a.dec(ebp);
            a.jnz(top);
            a.hlt();
        }
        var (jit, interp) = BothEngines(Program);
        var data = new byte[0x9000];
        new Random(5).NextBytes(data);
        jit.Memory.Write(0x10000, data);
        interp.Memory.Write(0x10000, data);
        RunInRandomBudgets(jit, interp, seed: 13, maxBudget: 40);
        var a = new byte[0x12000];
        var b = new byte[0x12000];
        interp.Memory.Read(0x20000, a);
        jit.Memory.Read(0x20000, b);
        Assert.Equal(a, b);
        var stats = jit.Cpu.JitStatistics;
        // Budgets of 1..39 against a ~31-instruction loop: some passes fit a block (deterministic: 90 instructions).
        Assert.True(stats.InstructionsInBlocks > 60, stats.ToString());
        // Only the boot stub's MOV to CR0/SS and the final HLT stop a block; the loop's instructions never do.
        Assert.All(jit.Cpu.JitStops(10), s => Assert.Contains(s.Mnemonic, new[] { "hlt", "mov" }));
    }
}
