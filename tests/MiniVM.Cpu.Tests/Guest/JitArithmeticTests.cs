using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Support.EngineComparison;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Shifts, rotates, MUL/IMUL and ADC/SBB, which translated blocks compute in their own IL, held to the interpreter
/// on edge operands (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, ...) and counts (0, 1, 31, 32, 33, 255, 256), after
/// each kind of earlier flag setter (the carry-in of ADC/SBB, the flags a shift by 0 leaves): every condition code
/// read right after the instruction (SETcc, in the block and, where a block ends, in the next), EFLAGS through
/// PUSHFD, and the state after every call of a run cut into random budgets (flags live at block exits).
/// </summary>
public sealed class JitArithmeticTests
{
    private const uint Table = 0x100000, Output = 0x200000;
    private const int OutputBytes = 0x100000;

    private static readonly uint[] Values = [0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x12345678, 0x40000000, 0xFFFF, 0x80000001];
    private static readonly uint[] Counts = [0, 1, 2, 31, 32, 33, 0xFF, 0x100];

    /// <summary>Flag setters run before the instruction under test: the lazy kinds ADD, SUB, logic, INC, and eager flags.</summary>
    private static readonly Action<Assembler>[] Priors =
    [
        a => a.add(ebx, ecx),
        a => a.cmp(ecx, ebx),
        a => a.test(ebx, ebx),
        a => { a.cmp(ebx, ecx); a.inc(edx); },
        a => a.stc(),
        a => a.shl(ebx, 1),
    ];

    /// <summary>
    /// One loop over the operand table: EAX = value, ECX = count, EBX = another value, EDX = 0x5A5A5A5A; then the
    /// prior flag setter, the instructions under test, all sixteen conditions, EFLAGS, EAX, EBX and EDX to the output.
    /// </summary>
    private static void Loop(Assembler a, Action<Assembler> prior, Action<Assembler> under)
    {
        var top = a.CreateLabel();
        a.mov(esi, Table);
        a.mov(ebp, Values.Length * Counts.Length);
        a.Label(ref top);
        a.mov(eax, __dword_ptr[esi]);
        a.mov(ecx, __dword_ptr[esi + 4]);
        a.mov(ebx, __dword_ptr[esi + 8]);
        a.mov(edx, 0x5A5A5A5A);
        prior(a);
        under(a);
        a.seto(__byte_ptr[edi]); a.setno(__byte_ptr[edi + 1]); a.setb(__byte_ptr[edi + 2]); a.setae(__byte_ptr[edi + 3]);
        a.sete(__byte_ptr[edi + 4]); a.setne(__byte_ptr[edi + 5]); a.setbe(__byte_ptr[edi + 6]); a.seta(__byte_ptr[edi + 7]);
        a.sets(__byte_ptr[edi + 8]); a.setns(__byte_ptr[edi + 9]); a.setp(__byte_ptr[edi + 10]); a.setnp(__byte_ptr[edi + 11]);
        a.setl(__byte_ptr[edi + 12]); a.setge(__byte_ptr[edi + 13]); a.setle(__byte_ptr[edi + 14]); a.setg(__byte_ptr[edi + 15]);
        a.pushfd();
        a.pop(__dword_ptr[edi + 16]);
        a.mov(__dword_ptr[edi + 20], eax);
        a.mov(__dword_ptr[edi + 24], ebx);
        a.mov(__dword_ptr[edi + 28], edx);
        a.add(edi, 32);
        a.add(esi, 12);
        a.dec(ebp);
        a.jnz(top);
    }

    /// <summary>Runs the loops under both engines (random budgets, state compared after each) and compares the output.</summary>
    private static void Compare(IEnumerable<Action<Assembler>> unders, int seed)
    {
        var list = unders.ToList();
        void Program(Assembler a)
        {
            a.mov(edi, Output);
            foreach (var under in list)
                foreach (var prior in Priors)
                    Loop(a, prior, under);
            a.hlt();
        }
        var table = new List<byte>();
        for (int v = 0; v < Values.Length; v++)
            for (int c = 0; c < Counts.Length; c++)
            {
                table.AddRange(BitConverter.GetBytes(Values[v]));
                table.AddRange(BitConverter.GetBytes(Counts[c]));
                table.AddRange(BitConverter.GetBytes(Values[(v + c + 3) % Values.Length]));
            }
        var jit = NewMachine(CpuEngine.Jit);
        var interp = NewMachine(CpuEngine.Interpreter);
        foreach (var m in new[] { jit, interp })
        {
            m.Memory.Write(Table, table.ToArray());
            m.Memory.Write(Table + 0x10000, BitConverter.GetBytes(0x9E3779B9u));
            m.LoadBootTo32(Program);
        }
        Assert.True(TestMachine.Assemble(32, 0x2000, Program).Length < 0x70000, "the program overlaps the stack");
        RunInRandomBudgets(jit, interp, seed, maxBudget: 300);
        var want = new byte[OutputBytes];
        var got = new byte[OutputBytes];
        interp.Memory.Read(Output, want);
        jit.Memory.Read(Output, got);
        int loops = list.Count * Priors.Length * Values.Length * Counts.Length;
        Assert.True(want.AsSpan(0, loops * 32).IndexOfAnyExcept((byte)0) >= 0, "the loops wrote nothing");
        for (int k = 0; k < OutputBytes; k += 32)
            Assert.True(want.AsSpan(k, 32).SequenceEqual(got.AsSpan(k, 32)),
                $"record {k / 32} differs: interpreter {Convert.ToHexString(want, k, 32)} jit {Convert.ToHexString(got, k, 32)}");
        Assert.True(jit.Cpu.JitStatistics.InstructionsInBlocks > 10_000, jit.Cpu.JitStatistics.ToString());
    }

    [Fact]
    public void ShiftsAndRotatesByClAndImmediateGiveTheInterpretersResultsAndFlags()
    {
        var unders = new List<Action<Assembler>>();
        foreach (int op in new[] { 0, 1, 4, 5, 7 })
        {
            void ByCl(Assembler a)
            {
                switch (op) { case 0: a.rol(eax, cl); break; case 1: a.ror(eax, cl); break; case 4: a.shl(eax, cl); break; case 5: a.shr(eax, cl); break; default: a.sar(eax, cl); break; }
            }
            unders.Add(ByCl);
            foreach (byte c in new byte[] { 1, 2, 31, 0, 32, 33 })
            {
                unders.Add(a =>
                {
                    switch (op) { case 0: a.rol(eax, c); break; case 1: a.ror(eax, c); break; case 4: a.shl(eax, c); break; case 5: a.shr(eax, c); break; default: a.sar(eax, c); break; }
                });
            }
        }
        // Dead flags: a shift whose flags the next one (or an ADD) overwrites, with register moves between.
        unders.Add(a => { a.shl(eax, cl); a.mov(edx, eax); a.shr(eax, 3); });
        unders.Add(a => { a.sar(eax, cl); a.rol(ebx, 5); a.add(eax, ebx); });
        unders.Add(a => { a.ror(eax, 7); a.lea(edx, __dword_ptr[eax + ebx]); a.sar(edx, 1); a.rol(eax, cl); });
        unders.Add(a => { a.shr(eax, 1); a.shl(eax, cl); a.mov(__dword_ptr[edi + 28], eax); a.shr(ebx, cl); });
        Compare(unders, seed: 11);
    }

    [Fact]
    public void MulAndImulInEveryFormGiveTheInterpretersProductsAndFlags()
    {
        const uint mem = Table + 0x10000; // holds 0x9E3779B9
        Compare(
        [
            a => a.imul(eax, ebx),
            a => a.imul(eax, ecx),
            a => { a.mov(__dword_ptr[mem], ebx); a.imul(eax, __dword_ptr[mem]); },
            a => a.imul(eax, ebx, -3),
            a => a.imul(eax, ebx, 0x10001),
            a => a.imul(eax, __dword_ptr[mem], 7),
            a => a.mul(ebx),
            a => a.mul(ecx),
            a => { a.mov(__dword_ptr[mem], ecx); a.mul(__dword_ptr[mem]); },
            // Dead flags: overwritten by the next flag setter.
            a => { a.imul(eax, ebx); a.imul(edx, eax, 5); },
            a => { a.mul(ebx); a.mov(ebx, edx); a.add(eax, ecx); },
            a => { a.imul(eax, __dword_ptr[mem]); a.sub(eax, ecx); },
            a => { a.shl(eax, cl); a.mul(ebx); a.cmp(eax, edx); },
        ], seed: 12);
    }

    [Fact]
    public void AdcSbbAndByteComparesTakeTheCarryFromAnyEarlierSetterAndSetTheInterpretersFlags()
    {
        const uint mem = Table + 0x10000;
        Compare(
        [
            a => a.adc(eax, ebx),
            a => a.sbb(eax, ebx),
            a => a.adc(eax, 0),
            a => a.sbb(eax, -1),
            a => a.adc(eax, 0x7FFFFFFF),
            a => a.sbb(eax, 0x80000000),
            a => { a.mov(__dword_ptr[mem], ecx); a.adc(eax, __dword_ptr[mem]); },
            a => { a.mov(__dword_ptr[mem], ecx); a.sbb(eax, __dword_ptr[mem]); },
            a => { a.mov(__dword_ptr[mem], eax); a.adc(__dword_ptr[mem], ebx); a.mov(eax, __dword_ptr[mem]); },
            a => { a.mov(__dword_ptr[mem], eax); a.sbb(__dword_ptr[mem], 5); a.mov(eax, __dword_ptr[mem]); },
            // Carry chains (ADD/ADC, SUB/SBB), a dead ADC, and conditions after ADD's carry.
            a => { a.add(eax, ebx); a.adc(edx, 0); a.adc(ebx, ecx); },
            a => { a.sub(eax, ebx); a.sbb(edx, ecx); a.sbb(ebx, 0); },
            a => { a.adc(eax, ebx); a.mov(edx, eax); a.sub(edx, ecx); },
            a => { a.add(eax, ecx); a.setb(dl); a.setae(dh); },
            a => { a.mul(ebx); a.adc(eax, ecx); a.sbb(edx, edx); },
            // Conditions straight after the lazy setters (CF from ADD's record and the carry INC/DEC keep).
            a => a.add(eax, ebx),
            a => a.inc(eax),
            a => a.dec(ecx),
            // Byte compares and tests (eager 8-bit flags), register, memory and immediate forms.
            a => a.cmp(al, bl),
            a => a.cmp(ah, cl),
            a => a.cmp(bl, 0x80),
            a => a.test(al, bh),
            a => a.test(cl, 0x81),
            a => { a.mov(__dword_ptr[mem], ecx); a.cmp(__byte_ptr[mem], al); },
            a => { a.mov(__dword_ptr[mem], ecx); a.cmp(bl, __byte_ptr[mem + 1]); },
            a => { a.mov(__dword_ptr[mem], ebx); a.cmp(__byte_ptr[mem], 0x7F); },
            a => { a.mov(__dword_ptr[mem], ebx); a.test(__byte_ptr[mem], 0x41); },
            a => { a.add(eax, ebx); a.mov(edx, eax); a.shr(eax, 1); a.adc(eax, 0); },
        ], seed: 13);
    }
}
