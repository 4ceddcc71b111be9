using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Support.EngineComparison;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Translated blocks entered straight from another block's exit (chaining) rather than through the run loop: a loop
/// spread over blocks on two pages with CALL/RET, a successor rewritten by the guest, successors reached across CR3
/// changes, page-table edits without a flush and a page fault at the successor's fetch. Every case runs under both
/// engines in random Run(n) budgets, so budgets also end inside chains, and the state and count must be equal after
/// each call.
/// </summary>
public sealed class BlockChainingTests
{
    private static byte[] Ram(TestMachine m, uint address, int length)
    {
        var b = new byte[length];
        m.Memory.Read(address, b);
        return b;
    }

    /// <summary>The loop's head block ends at a page end (its last instruction ends at 0x3000); its tail, on the next
    /// page, calls a function there and jumps back: three blocks per iteration, two pages, a CALL/RET pair.</summary>
    private static void LoopOverTwoPages(TestMachine m)
    {
        m.LoadBootTo32(a =>
        {
            a.mov(ecx, 400);
            a.xor(eax, eax);
            a.mov(esi, 0x10000);
            a.jmp(0x2FF6);
        });
        var head = TestMachine.Assemble(32, 0x2FF6, a =>
        {
            a.add(eax, ecx);
            a.xor(ebx, eax);
            a.mov(__dword_ptr[esi + ecx * 4], ebx);
            a.imul(edx, ebx, 5);
        });
        Assert.Equal(10, head.Length);
        m.Load(0x2FF6, head);
        m.Load(32, 0x3000, a =>
        {
            a.add(eax, 0x12345678);
            a.call(0x3800);
            a.sub(ebp, edi);
            a.dec(ecx);
            a.jnz(0x2FF6);
            a.hlt();
        });
        m.Load(32, 0x3800, a =>
        {
            a.lea(edi, __dword_ptr[edi + edx * 2 + 1]);
            a.ret();
        });
    }

    [Fact]
    public void LoopOverBlocksOnTwoPagesWithCallAndRetChainsAndMatchesTheInterpreterUnderEveryBudget()
    {
        var jit = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        LoopOverTwoPages(jit);
        LoopOverTwoPages(interp);
        RunInRandomBudgets(jit, interp, seed: 5, maxBudget: 40);
        Assert.Equal(Ram(interp, 0x10000, 0x800), Ram(jit, 0x10000, 0x800));

        // In long runs the blocks enter one another: almost every block run is chained, not dispatched.
        var whole = NewMachine(CpuEngine.Jit);
        LoopOverTwoPages(whole);
        whole.RunToHalt(100_000);
        Assert.Equal(Snapshot(interp), Snapshot(whole));
        var stats = whole.Cpu.JitStatistics;
        Assert.True(stats.BlockRuns > 1500, stats.ToString());
        Assert.True(stats.ChainedRuns > stats.BlockRuns * 9 / 10, stats.ToString());
    }

    /// <summary>Block A (page 0x2000) jumps to block B (page 0x3000) each pass; on the 100th pass A rewrites B's
    /// immediate, so the successor A chains to from then on must be the new code.</summary>
    private static void RewrittenSuccessor(TestMachine m)
    {
        m.LoadBootTo32(a =>
        {
            a.xor(ecx, ecx);
            a.xor(ebx, ebx);
            a.jmp(0x2800);
        });
        m.Load(32, 0x2800, a =>
        {
            var skip = a.CreateLabel();
            a.inc(ecx);
            a.cmp(ecx, 100);
            a.jne(skip);
            a.mov(__dword_ptr[0x3001], 0x5555);       // the imm32 of B's MOV EAX
            a.Label(ref skip);
            a.jmp(0x3000);
        });
        m.Load(32, 0x3000, a =>
        {
            a.mov(eax, 1);
            a.add(ebx, eax);
            a.cmp(ecx, 200);
            a.jne(0x2800);
            a.hlt();
        });
    }

    [Fact]
    public void SuccessorRewrittenByTheGuestIsLeftAndItsNewCodeRuns()
    {
        var jit = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        RewrittenSuccessor(jit);
        RewrittenSuccessor(interp);
        RunInRandomBudgets(jit, interp, seed: 9, maxBudget: 30);
        Assert.Equal(99u + 101u * 0x5555, jit.Cpu.Ebx);

        var whole = NewMachine(CpuEngine.Jit);
        RewrittenSuccessor(whole);
        whole.RunToHalt(100_000);
        Assert.Equal(Snapshot(interp), Snapshot(whole));
        Assert.True(whole.Cpu.JitStatistics.ChainedRuns > 200, whole.Cpu.JitStatistics.ToString());
    }

    private const uint Directory1 = 0x20000, Table0 = 0x21000, Table1 = 0x22000, Directory2 = 0x23000, Table1b = 0x24000;

    /// <summary>
    /// Linear 0x400000 holds a function that is at physical 0x30000 under one page directory and 0x31000 under the
    /// other. The loop calls it each pass (a chain across pages), switches CR3 every 8th pass and rewrites the
    /// first directory's page-table entry for it without a flush every 16th; at the end it jumps to a page that is
    /// not present. The successor's fetch goes through the page tables exactly as the run loop's would: the same
    /// function runs, the same accessed bits are set and the same #PF arrives with the same count.
    /// </summary>
    private static void CallsAcrossAddressSpaces(TestMachine m)
    {
        m.WriteU32(Directory1, Table0 | 3);
        m.WriteU32(Directory1 + 4, Table1 | 3);
        m.WriteU32(Directory2, Table0 | 3);
        m.WriteU32(Directory2 + 4, Table1b | 3);
        for (uint i = 0; i < 1024; i++) m.WriteU32(Table0 + i * 4, (i << 12) | 3);
        m.WriteU32(Table1, 0x30000 | 3);
        m.WriteU32(Table1b, 0x31000 | 3);
        m.Load(32, 0x30000, a => { a.mov(eax, 0x111); a.add(esi, eax); a.ret(); });
        m.Load(32, 0x31000, a => { a.mov(eax, 0x222); a.sub(esi, eax); a.ret(); });
        m.LoadBootTo32(a =>
        {
            var top = a.CreateLabel();
            var same = a.CreateLabel();
            var keep = a.CreateLabel();
            a.mov(eax, Directory1);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000u));
            a.mov(cr0, eax);
            a.mov(ecx, 300);
            a.Label(ref top);
            a.call(0x400000);
            a.add(ebx, eax);
            a.test(ecx, 7);
            a.jnz(same);
            a.mov(edx, cr3);
            a.xor(edx, Directory1 ^ Directory2);
            a.mov(cr3, edx);
            a.Label(ref same);
            a.test(ecx, 15);
            a.jnz(keep);
            a.xor(__dword_ptr[Table1], 0x30000 ^ 0x31000);
            a.Label(ref keep);
            a.dec(ecx);
            a.jnz(top);
            a.jmp(0x500000);                          // not present
        });
        m.SetIdt(14, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.pop(edi);                               // error code
            a.pop(ebp);                               // faulting EIP
            a.mov(edx, cr2);
            a.hlt();
        });
    }

    [Fact]
    public void ChainsAcrossCr3ChangesAndUnflushedPageTableEditsFetchAsTheRunLoopDoes()
    {
        var jit = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        CallsAcrossAddressSpaces(jit);
        CallsAcrossAddressSpaces(interp);
        RunInRandomBudgets(jit, interp, seed: 13, maxBudget: 25);
        Assert.Equal(14, jit.Cpu.LastExceptionVector);
        Assert.Equal(0x500000u, jit.Cpu.Edx);         // CR2
        Assert.Equal(0x500000u, jit.Cpu.Ebp);         // the faulting EIP: the jump's target
        Assert.Equal(Ram(interp, Directory1, 0x5000), Ram(jit, Directory1, 0x5000)); // accessed bits included

        var whole = NewMachine(CpuEngine.Jit);
        CallsAcrossAddressSpaces(whole);
        whole.RunToHalt(100_000);
        Assert.Equal(Snapshot(interp), Snapshot(whole));
        Assert.Equal(Ram(interp, Directory1, 0x5000), Ram(whole, Directory1, 0x5000));
        Assert.True(whole.Cpu.JitStatistics.ChainedRuns > 300, whole.Cpu.JitStatistics.ToString());
    }

    [Fact]
    public void AChainOfAMillionBlocksRunsInOneRunCallWithoutGrowingTheStack()
    {
        // Two one-page blocks jumping to each other 500,000 times: one Run call, one chain (tail calls); a chain
        // that nested a frame per block would overflow the stack long before the end.
        var m = NewMachine(CpuEngine.Jit);
        m.LoadBootTo32(a =>
        {
            a.mov(ecx, 500_000);
            a.jmp(0x3000);
        });
        m.Load(32, 0x3000, a => { a.add(eax, ecx); a.jmp(0x4000); });
        m.Load(32, 0x4000, a => { a.xor(ebx, eax); a.dec(ecx); a.jnz(0x3000); a.hlt(); });
        m.Cpu.Run(100);                               // boot, and both blocks' first (compiling) runs
        m.Cpu.Run(3_000_000);
        Assert.True(m.Cpu.Halted);
        Assert.Equal(0u, m.Cpu.Ecx);
        Assert.True(m.Cpu.JitStatistics.ChainedRuns > 999_000, m.Cpu.JitStatistics.ToString());
    }
}
