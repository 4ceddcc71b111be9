using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Support.EngineComparison;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Memory operands of translated blocks, whose hits run an inline TLB fast path in the block's IL and whose misses go
/// to the interpreter's access (BlockTranslator.Memory.cs), held to the interpreter: TLB hits and conflict misses over
/// more pages than the TLB has entries, accesses crossing pages, the stack crossing a page, page faults at CPL 3
/// (error code, CR2, EIP, no partial write, accessed/dirty bits), segment limit and type faults (#GP, #SS), MMIO and
/// ROM reached from a block, and a write into a page whose code another block was translated from. Each runs under
/// both engines in random Run budgets with registers, EFLAGS, EIP and the count compared after every call, and memory
/// compared at the end; each also checks what the architecture says, so a bug shared by both engines shows too.
/// </summary>
public sealed class JitMemoryAccessTests
{
    private const uint PageDirectory = 0x90000, PageTable = 0x91000;

    /// <summary>A block-sized instruction that may fault, preceded by <c>mov edi, its length</c>: the test handlers
    /// resume after it by adding EDI to the pushed EIP.</summary>
    private static void Faulting(Assembler a, Action<Assembler> instruction)
    {
        int length = TestMachine.Assemble(32, 0, instruction).Length;
        a.mov(edi, length);
        instruction(a);
    }

    /// <summary>Handler logging (vector, error code, CR2, EIP) at the log cursor, then resuming after the faulting
    /// instruction (EDI bytes on). Frame: error code, EIP, CS, EFLAGS [, ESP, SS].</summary>
    private static void LoggingHandler(Assembler a, int vector, uint cursor)
    {
        a.push(eax);
        a.push(ebx);
        a.mov(ebx, __dword_ptr[cursor]);
        a.mov(__dword_ptr[ebx], vector);
        a.mov(eax, __dword_ptr[esp + 8]);
        a.mov(__dword_ptr[ebx + 4], eax);
        a.mov(eax, cr2);
        a.mov(__dword_ptr[ebx + 8], eax);
        a.mov(eax, __dword_ptr[esp + 12]);
        a.mov(__dword_ptr[ebx + 12], eax);
        a.add(__dword_ptr[cursor], 16);
        a.add(__dword_ptr[esp + 12], edi);
        a.pop(ebx);
        a.pop(eax);
        a.add(esp, 4);
        a.iretd();
    }

    private static List<(int Vector, uint Error, uint Cr2, uint Eip)> ReadLog(TestMachine m, uint cursor, uint start)
    {
        var log = new List<(int, uint, uint, uint)>();
        for (uint p = start; p < m.ReadU32(cursor); p += 16)
            log.Add(((int)m.ReadU32(p), m.ReadU32(p + 4), m.ReadU32(p + 8), m.ReadU32(p + 12)));
        return log;
    }

    private static void AssertSameMemory(TestMachine interp, TestMachine jit, uint length)
    {
        var a = new byte[length];
        var b = new byte[length];
        interp.Memory.Read(0, a);
        jit.Memory.Read(0, b);
        int first = Enumerable.Range(0, (int)length).FirstOrDefault(i => a[i] != b[i], -1);
        Assert.True(first < 0, $"memory differs first at 0x{first:X}: interpreter {(first < 0 ? 0 : a[first]):X2}, jit {(first < 0 ? 0 : b[first]):X2}");
    }

    private static (TestMachine Jit, TestMachine Interp) Both(Action<TestMachine> setup)
    {
        var jit = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        setup(jit);
        setup(interp);
        return (jit, interp);
    }

    /// <summary>Identity-maps the 8 MiB of RAM with user, writable 4 KiB pages (two page tables, one after the other at
    /// <see cref="PageTable"/>); <paramref name="flags"/> overrides single pages.</summary>
    private static void IdentityPaging(TestMachine m, params (uint Page, uint Flags)[] flags)
    {
        m.WriteU32(PageDirectory, PageTable | 7);
        m.WriteU32(PageDirectory + 4, (PageTable + 0x1000) | 7);
        for (uint p = 0; p < 2048; p++) m.WriteU32(PageTable + 4 * p, (p << 12) | 7);
        foreach (var (page, f) in flags) m.WriteU32(PageTable + 4 * (page >> 12), page | f);
    }

    private static void EnablePaging(Assembler a)
    {
        a.mov(eax, PageDirectory);
        a.mov(cr3, eax);
        a.mov(eax, cr0);
        a.or(eax, unchecked((int)0x80010000u)); // PG | WP
        a.mov(cr0, eax);
    }

    [Fact]
    public void HitsConflictMissesPageCrossingsAndAStackAcrossAPageMatchTheInterpreterUnderEveryBudget()
    {
        // 768 pages in turn (the TLB has 512 entries per privilege, direct-mapped), each with reads, read-modify-writes
        // and stores of 8, 16 and 32 bits, several crossing into the next page; PUSH/POP/CALL/RET on a stack whose
        // slots cross a page boundary. Paging is on, so the accessed and dirty bits are compared with the memory.
        void Program(Assembler a)
        {
            var top = a.CreateLabel();
            var function = a.CreateLabel();
            EnablePaging(a);
            a.mov(esp, 0x70002); // every dword slot near the top straddles 0x6FFFF/0x70000 or lies on either side
            a.mov(ecx, 1600);
            a.mov(ebx, 0x100000);
            a.xor(eax, eax);
            a.jmp(top);
            a.Label(ref function);
            a.add(__dword_ptr[esp + 4], eax);
            a.ret();
            a.Label(ref top);
            a.add(eax, __dword_ptr[ebx]);
            a.add(__dword_ptr[ebx + 0xFFE], eax);   // crosses
            a.mov(dx, __word_ptr[ebx + 0xFFF]);     // crosses
            a.mov(__word_ptr[ebx + 0x7FF], dx);
            a.movzx(esi, __byte_ptr[ebx + 0xFFF]);
            a.inc(__dword_ptr[ebx + 0x800]);
            a.xor(__dword_ptr[ebx + 0x10], esi);
            a.mov(__byte_ptr[ebx + 0x11], cl);
            a.push(__dword_ptr[ebx + 4]);
            a.call(function);
            a.pop(edi);
            a.mov(__dword_ptr[ebx + 0xFFD], edi);  // crosses
            a.cmp(__dword_ptr[ebx + 0x20], eax);
            a.setb(__byte_ptr[ebx + 0x24]);
            a.add(ebx, 0x1004);
            a.and(ebx, 0x3FFFFF);
            a.or(ebx, 0x100000);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var (jit, interp) = Both(m =>
        {
            m.LoadBootTo32(Program);
            var fill = new byte[0x301000];
            new Random(7).NextBytes(fill);
            m.Memory.Write(0x100000, fill);
            IdentityPaging(m);
        });
        RunInRandomBudgets(jit, interp, seed: 11, maxBudget: 300);
        AssertSameMemory(interp, jit, 0x402000);
        var stats = jit.Cpu.JitStatistics;
        Assert.True(stats.InstructionsInBlocks > 20 * 1600, stats.ToString());
        // The architecture's view, not just agreement: accessed and dirty bits on every written page (each pass
        // writes its page and, crossing, the next one), the stack's two pages too.
        var written = new List<uint> { 0x6F000, 0x70000 };
        for (uint pass = 0, b = 0x100000; pass < 1600; pass++, b = ((b + 0x1004) & 0x3FFFFF) | 0x100000)
        {
            written.Add(b & 0xFFFFF000);
            written.Add((b + 0xFFF) & 0xFFFFF000);
        }
        foreach (uint page in written) Assert.Equal(0x60u, jit.ReadU32(PageTable + 4 * (page >> 12)) & 0x60);
    }

    [Fact]
    public void PageFaultsAtCpl3FromBlocksCarryTheInterpretersErrorCodeCr2AndEipAndWriteNothing()
    {
        const uint NotPresent = 0x300000, ReadOnly = 0x301000, Supervisor = 0x302000, Data = 0x303000, ReadOnlyUse = 0x304000;
        const uint Cursor = 0x30FFFC, Log = 0x310000, Ring0Stack = 0x9F000, Ring3Stack = 0x70000;
        void Setup(TestMachine m)
        {
            m.LoadBootTo32(a =>
            {
                EnablePaging(a);
                a.mov(ax, TestMachine.Tss1Sel);
                a.ltr(ax);
                a.push(TestMachine.UserData);
                a.push(Ring3Stack);
                a.push(0x2);
                a.push(TestMachine.UserCode);
                a.push(0x2800);
                a.iretd();
            });
            IdentityPaging(m, (NotPresent, 6), (ReadOnly, 5), (Supervisor, 3));
            m.WriteU32(TestMachine.Tss1 + 4, Ring0Stack);
            m.WriteU32(TestMachine.Tss1 + 8, TestMachine.Data32);
            m.WriteU32(Cursor, Log);
            m.WriteU32(0x2FFFFC, 0x11223344);
            m.SetIdt(14, TestMachine.Gate(TestMachine.Code32, 0x2C00, 0xE, 0));
            m.Load(32, 0x2C00, a => LoggingHandler(a, 14, Cursor));
            m.SetIdt(0x80, TestMachine.Gate(TestMachine.Code32, 0x2D00, 0xE, 3));
            m.Load(32, 0x2D00, a => a.hlt());
            m.Load(32, 0x2800, a =>
            {
                var top = a.CreateLabel();
                a.mov(ax, TestMachine.UserData);
                a.mov(ds, ax);
                a.mov(es, ax);
                a.mov(ecx, 300);
                a.Label(ref top);
                a.mov(ebx, Data);
                a.add(eax, __dword_ptr[ebx]);
                a.add(__dword_ptr[ebx + 8], ecx);
                a.mov(ebx, NotPresent);
                Faulting(a, x => x.mov(eax, __dword_ptr[ebx]));          // #PF 4: user read, not present
                a.mov(ebx, ReadOnly);
                a.add(eax, __dword_ptr[ebx]);                             // readable
                Faulting(a, x => x.mov(__dword_ptr[ebx], eax));          // #PF 7: user write, read-only
                a.mov(ebx, Supervisor);
                Faulting(a, x => x.mov(eax, __dword_ptr[ebx]));          // #PF 5: user read, supervisor page
                Faulting(a, x => x.inc(__dword_ptr[ebx]));               // #PF 5: the read comes first
                a.mov(ebx, NotPresent - 2);
                Faulting(a, x => x.mov(__dword_ptr[ebx], ecx));          // #PF 6 at the next page: nothing written
                Faulting(a, x => x.mov(ax, __word_ptr[ebx + 1]));        // #PF 4, CR2 = the next page
                a.add(eax, __dword_ptr[ebx - 4]);
                a.add(esi, __dword_ptr[ReadOnlyUse]);                    // read only: accessed, never dirty
                a.mov(__dword_ptr[Data + 0x100 + 2 * 4], eax);
                a.dec(ecx);
                a.jnz(top);
                a.@int(0x80);
            });
        }
        var (jit, interp) = Both(Setup);
        RunInRandomBudgets(jit, interp, seed: 3, maxBudget: 200);
        AssertSameMemory(interp, jit, 0x320000);
        var log = ReadLog(jit, Cursor, Log);
        Assert.Equal(6 * 300, log.Count);
        uint[] errors = [4, 7, 5, 5, 6, 4];
        uint[] cr2 = [NotPresent, ReadOnly, Supervisor, Supervisor, NotPresent, NotPresent];
        for (int k = 0; k < log.Count; k++)
        {
            Assert.Equal(14, log[k].Vector);
            Assert.Equal(errors[k % 6], log[k].Error);
            Assert.Equal(cr2[k % 6], log[k].Cr2);
        }
        Assert.Equal(0x11223344u, jit.ReadU32(0x2FFFFC)); // the straddling store wrote no byte before the fault
        uint Pte(uint page) => jit.ReadU32(PageTable + 4 * (page >> 12));
        Assert.Equal(0x60u, Pte(Data) & 0x60);
        Assert.Equal(0x20u, Pte(ReadOnly) & 0x60);
        Assert.Equal(0x20u, Pte(ReadOnlyUse) & 0x60);
        Assert.Equal(0u, Pte(Supervisor) & 0x60);
        var stats = jit.Cpu.JitStatistics;
        Assert.True(stats.InstructionsInBlocks > 10 * 300, stats.ToString());
    }

    [Fact]
    public void SegmentLimitAndTypeFaultsFromBlocksAreTheInterpreters()
    {
        // FS: base 0x10000, limit 0xFFF; GS: expand-down above 0xFFF; ES: read-only, base 0x20000; SS: limit 0x8FFFF.
        const ushort Small = 0x50, ExpandDown = 0x58, Stack = 0x60, ReadOnlyData = 0x68;
        const uint Cursor = 0x3FFFC, Log = 0x40000;
        void Setup(TestMachine m)
        {
            m.LoadBootTo32(a =>
            {
                var top = a.CreateLabel();
                a.mov(ax, Small); a.mov(fs, ax);
                a.mov(ax, ExpandDown); a.mov(gs, ax);
                a.mov(ax, ReadOnlyData); a.mov(es, ax);
                a.mov(ax, Stack); a.mov(ss, ax);
                a.mov(ecx, 400);
                a.Label(ref top);
                a.mov(ebx, ecx);
                a.and(ebx, 7);
                a.add(ebx, 0xFF8);
                // Flat stores to the pages FS and ES reach, so that their faulting accesses would hit TLB entries.
                a.mov(__dword_ptr[ebx + 0x10008], edx);
                a.mov(__dword_ptr[ebx + 0x20000], edx);
                Faulting(a, x => x.mov(eax, __dword_ptr.fs[ebx]));        // #GP(0) from 0xFFD on
                Faulting(a, x => x.add(__word_ptr.fs[ebx + 1], ax));       // #GP(0) from 0xFFE on
                Faulting(a, x => x.mov(__byte_ptr.fs[ebx + 4], cl));       // #GP(0) from 0xFFC on
                Faulting(a, x => x.mov(__dword_ptr.gs[ebx + 5], eax));     // expand-down: #GP(0) up to 0xFFA
                Faulting(a, x => x.add(edx, __dword_ptr.es[ebx]));         // readable
                Faulting(a, x => x.mov(__dword_ptr.es[ebx], edx));         // #GP(0): not writable
                Faulting(a, x => x.add(edx, __dword_ptr.ss[ebx + 0x8F000])); // #SS(0) from 0x8FFFD on
                a.push(edx);
                a.pop(esi);
                a.dec(ecx);
                a.jnz(top);
                a.hlt();
            });
            m.WriteDescriptor(TestMachine.GdtBase, 10, TestMachine.Descriptor(0x10000, 0xFFF, 0x92, 0x4));
            m.WriteDescriptor(TestMachine.GdtBase, 11, TestMachine.Descriptor(0, 0xFFF, 0x96, 0x4));
            m.WriteDescriptor(TestMachine.GdtBase, 12, TestMachine.Descriptor(0, 0x8FFFF, 0x92, 0x4));
            m.WriteDescriptor(TestMachine.GdtBase, 13, TestMachine.Descriptor(0x20000, 0xFFFFF, 0x90, 0x4));
            m.WriteU16(0x4F0, 14 * 8 - 1);
            m.WriteU32(Cursor, Log);
            m.SetIdt(12, TestMachine.Gate(TestMachine.Code32, 0x2C00, 0xE, 0));
            m.Load(32, 0x2C00, a => LoggingHandler(a, 12, Cursor));
            m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2D00, 0xE, 0));
            m.Load(32, 0x2D00, a => LoggingHandler(a, 13, Cursor));
            var data = new byte[0x2000];
            new Random(5).NextBytes(data);
            m.Memory.Write(0x10000, data);
            m.Memory.Write(0x20000, data);
        }
        var (jit, interp) = Both(Setup);
        RunInRandomBudgets(jit, interp, seed: 5, maxBudget: 150);
        AssertSameMemory(interp, jit, 0x100000);
        var log = ReadLog(jit, Cursor, Log);
        // Per 8 passes (EBX = 0xFF8..0xFFF): 3 + 2 + 4 (FS), 3 (GS), 8 (ES write), 3 (SS).
        Assert.Equal(400 / 8 * (3 + 2 + 4 + 3 + 8 + 3), log.Count);
        Assert.All(log, e => Assert.Equal(0u, e.Error));
        Assert.Equal(400 / 8 * 3, log.Count(e => e.Vector == 12));
        var stats = jit.Cpu.JitStatistics;
        Assert.True(stats.InstructionsInBlocks > 10 * 400, stats.ToString());
    }

    [Fact]
    public void MmioAndRomReachedFromABlockSeeTheInterpretersAccessesInOrder()
    {
        // A block mixing RAM hits with MMIO reads and writes (8/16/32-bit) and ROM reads: the device must see the same
        // accesses, values and instruction counts, and a ROM read the image's bytes.
        var seen = new List<string>[2];
        var rom = new byte[0x1000];
        new Random(9).NextBytes(rom);
        int k = 0;
        var machines = new List<TestMachine>();
        foreach (var engine in new[] { CpuEngine.Interpreter, CpuEngine.Jit })
        {
            var m = NewMachine(engine);
            var log = new List<string>();
            seen[k++] = log;
            m.Memory.MapIo(0xA0000, 0x1000);
            m.Memory.MapRom(0xC0000, 0x1000, rom);
            m.Bus.MmioRead = (addr, size) => { log.Add($"R{size} {addr:X} @{m.Cpu.InstructionCount}"); return (uint)(addr * 7 + m.Cpu.InstructionCount); };
            m.Bus.MmioWrite = (addr, size, v) => log.Add($"W{size} {addr:X}={v:X} @{m.Cpu.InstructionCount}");
            m.LoadBootTo32(a =>
            {
                var top = a.CreateLabel();
                a.mov(ecx, 200);
                a.mov(ebx, 0x10000);
                a.Label(ref top);
                a.mov(eax, __dword_ptr[ebx]);
                a.add(eax, __dword_ptr[0xA0004]);
                a.mov(__dword_ptr[ebx + 4], eax);
                a.mov(__word_ptr[0xA0010], ax);
                a.movzx(edx, __byte_ptr[0xA0021]);
                a.add(eax, __dword_ptr[ecx * 4 + 0xC0000 - 4]);
                a.add(__dword_ptr[0xA0030], edx);
                a.mov(__byte_ptr[0xA0040], cl);
                a.add(ebx, 8);
                a.dec(ecx);
                a.jnz(top);
                a.hlt();
            });
            m.RunToHalt(20_000);
            machines.Add(m);
        }
        Assert.Equal(seen[0], seen[1]);
        Assert.Equal(200 * 6, seen[1].Count);
        Assert.Equal(Snapshot(machines[0]), Snapshot(machines[1]));
        AssertSameMemory(machines[0], machines[1], 0x20000);
        Assert.True(machines[1].Cpu.JitStatistics.BlockRuns > 0);
    }

    [Fact]
    public void WritesIntoAnotherTranslatedBlocksPageAfterItWasDataReachTheNewCode()
    {
        // Page 0x5000 is first written as data (so it has had a write TLB entry), then becomes code (a function
        // returning an immediate); a loop in another page then rewrites that immediate every pass, alongside data
        // stores to both pages, and must always call the new code.
        void Program(Assembler a)
        {
            var fill = a.CreateLabel();
            var top = a.CreateLabel();
            a.mov(ecx, 64);
            a.Label(ref fill);
            a.mov(__dword_ptr[ecx * 4 + 0x5800], ecx);
            a.dec(ecx);
            a.jnz(fill);
            a.mov(__byte_ptr[0x5000], 0xB8);       // mov eax, imm32
            a.mov(__dword_ptr[0x5001], 0);
            a.mov(__byte_ptr[0x5005], 0xC3);       // ret
            a.mov(ecx, 500);
            a.xor(ebx, ebx);
            a.Label(ref top);
            a.call(0x5000);
            a.add(ebx, eax);
            a.mov(__dword_ptr[0x5001], ecx);       // the next call returns ECX
            a.add(__dword_ptr[0x5900], ecx);       // data beside the code
            a.mov(__dword_ptr[0x2F00], ebx);       // data on this block's own page
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        }
        var (jit, interp) = Both(m => m.LoadBootTo32(Program));
        RunInRandomBudgets(jit, interp, seed: 13, maxBudget: 100);
        AssertSameMemory(interp, jit, 0x10000);
        // Pass p (ECX = 500 - p) calls the code written by pass p - 1: 0 first, then 500, 499, ..., 2.
        uint expected = 0;
        for (uint v = 2; v <= 500; v++) expected += v;
        Assert.Equal(expected, jit.Cpu.Ebx);
        Assert.True(jit.Cpu.JitStatistics.InstructionsInBlocks > 500, jit.Cpu.JitStatistics.ToString());
    }
}
