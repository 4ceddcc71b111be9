using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The specialised 32-bit handlers (pre-decoded operands, lazy flags) against the general interpreter: random
/// straight-line programs of the shapes they cover, with conditional jumps, SETcc, CMOVcc, ADC/SBB and PUSHFD
/// reading the flags at every point, must leave identical registers, EFLAGS and memory either way.
/// </summary>
public sealed class SpecialisedFormsTests
{
    private const uint Data = 0x10000;

    private static readonly AssemblerRegister32[] Dest = [eax, ebx, ecx, edx, esi];
    private static readonly AssemblerRegister8[] Dest8 = [al, bl, cl, dl, ah, bh, ch, dh];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomProgramsEndInTheSameStateWithAndWithoutSpecialisedForms(int seed)
    {
        var rng = new Random(seed);
        var fastMachine = new TestMachine();
        var generalMachine = new TestMachine();
        generalMachine.Cpu.SpecialisedForms = false;
        for (int program = 0; program < 40; program++)
        {
            int programSeed = rng.Next();
            var fast = RunProgram(fastMachine, programSeed);
            var general = RunProgram(generalMachine, programSeed);
            Assert.True(general.SequenceEqual(fast), $"seed {seed} program {program}: state differs at word {FirstDifference(fast, general)}");
        }
    }

    [Fact]
    public void CompareAndBranchLoopCountsTheSameWithLazyFlags()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            var top = a.CreateLabel();
            var skip = a.CreateLabel();
            a.mov(ecx, 1000);
            a.xor(eax, eax);
            a.xor(ebx, ebx);
            a.Label(ref top);
            a.cmp(ecx, 500);
            a.jae(skip);          // unsigned: taken for 500..1000
            a.inc(ebx);
            a.Label(ref skip);
            a.inc(eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        m.RunToHalt(20_000);
        Assert.Equal(1000u, m.Cpu.Eax);
        Assert.Equal(499u, m.Cpu.Ebx);
    }

    [Fact]
    public void StateSavedWhileFlagsAreLazyRestoresTheMaterialisedFlags()
    {
        // Stopped right after CMP (its flags only in the lazy record): the saved EFLAGS must be the real ones, and
        // the restored CPU must take the same branch.
        var m = new TestMachine();
        m.LoadBootTo32(a => a.jmp(0x3000));
        m.Load(32, 0x3000, a =>
        {
            var below = a.CreateLabel();
            a.mov(eax, 5);
            a.cmp(eax, 7);   // 5 - 7 sets CF, AF and SF; ZF, PF and OF clear
            a.jb(below);
            a.mov(ebx, 1);
            a.hlt();
            a.Label(ref below);
            a.mov(ebx, 2);
            a.hlt();
        });
        for (int k = 0; k < 100 && m.Cpu.Eip != 0x3000; k++) m.Cpu.Run(1);
        Assert.Equal(2, m.Cpu.Run(1) + m.Cpu.Run(1)); // MOV, CMP: stopped before the JB
        Assert.Equal(5u, m.Cpu.Eax);
        uint flags = m.Cpu.Eflags;
        Assert.Equal(0x91u, flags & 0x8D5);
        var saved = new MemoryStream();
        using (var w = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) m.Cpu.SaveState(w);

        var other = new TestMachine();
        var image = new byte[0x10000];
        m.Memory.Read(0, image);
        other.Memory.Write(0, image);
        saved.Position = 0;
        using (var r = new BinaryReader(saved)) other.Cpu.LoadState(r);
        Assert.Equal(flags, other.Cpu.Eflags);
        other.RunToHalt(1_000);
        Assert.Equal(2u, other.Cpu.Ebx);
    }

    private static int FirstDifference(uint[] a, uint[] b)
    {
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return i;
        return -1;
    }

    private static uint[] RunProgram(TestMachine m, int seed)
    {
        var rng = new Random(seed);
        m.LoadBootTo32(a =>
        {
            a.mov(ebp, Data);
            a.mov(edi, 3);
            foreach (var r in Dest) a.mov(r, (uint)rng.Next() * 3u + (uint)rng.Next(4));
            var func = a.CreateLabel();
            for (int k = 0; k < 120; k++) Emit(a, rng, func);
            a.pushfd();
            a.pop(__dword_ptr[ebp + 0x3FC]);
            a.hlt();
            a.Label(ref func);
            a.add(eax, 7);
            a.ret();
        });
        var data = new byte[0x400];
        rng.NextBytes(data);
        m.Memory.Write(Data, data);
        m.RunToHalt(10_000);
        var state = new uint[10 + 0x100 + 0x10];
        for (int r = 0; r < 8; r++) state[r] = m.Cpu.GetRegister((GeneralRegister)r);
        state[8] = m.Cpu.Eflags;
        state[9] = m.Cpu.Eip;
        var mem = new byte[0x400];
        m.Memory.Read(Data, mem);
        Buffer.BlockCopy(mem, 0, state, 40, 0x400);
        var stack = new byte[0x40];
        m.Memory.Read(0x80000 - 0x40, stack);
        Buffer.BlockCopy(stack, 0, state, 40 + 0x400, 0x40);
        return state;
    }

    private static AssemblerMemoryOperand Mem(Random rng) =>
        rng.Next(3) == 0 ? __dword_ptr[ebp + edi * 4 + rng.Next(0, 0xE0) * 4] : __dword_ptr[ebp + rng.Next(0, 0xF0) * 4 + rng.Next(4)];

    private static AssemblerMemoryOperand Mem8(Random rng) => __byte_ptr[ebp + rng.Next(0, 0x3C0)];

    private static void Emit(Assembler a, Random rng, Label func)
    {
        var d = Dest[rng.Next(Dest.Length)];
        var s = Dest[rng.Next(Dest.Length)];
        var d8 = Dest8[rng.Next(Dest8.Length)];
        var s8 = Dest8[rng.Next(Dest8.Length)];
        int imm = rng.Next(4) switch { 0 => rng.Next(-128, 128), 1 => rng.Next(), 2 => 0, _ => -rng.Next() };
        int alu = rng.Next(7);
        switch (rng.Next(26))
        {
            case 0:
                switch (alu)
                {
                    case 0: a.add(d, s); break;
                    case 1: a.or(d, s); break;
                    case 2: a.and(d, s); break;
                    case 3: a.sub(d, s); break;
                    case 4: a.xor(d, s); break;
                    case 5: a.cmp(d, s); break;
                    default: a.test(d, s); break;
                }
                break;
            case 1:
                switch (alu)
                {
                    case 0: a.add(d, imm); break;
                    case 1: a.or(d, imm); break;
                    case 2: a.and(d, imm); break;
                    case 3: a.sub(d, imm); break;
                    case 4: a.xor(d, imm); break;
                    case 5: a.cmp(d, imm); break;
                    default: a.test(d, imm); break;
                }
                break;
            case 2:
            {
                var m = Mem(rng);
                switch (alu)
                {
                    case 0: a.add(d, m); break;
                    case 1: a.or(d, m); break;
                    case 2: a.and(d, m); break;
                    case 3: a.sub(d, m); break;
                    case 4: a.xor(d, m); break;
                    case 5: a.cmp(d, m); break;
                    default: a.test(m, d); break;
                }
                break;
            }
            case 3:
            {
                var m = Mem(rng);
                switch (alu)
                {
                    case 0: a.add(m, s); break;
                    case 1: a.or(m, s); break;
                    case 2: a.and(m, s); break;
                    case 3: a.sub(m, s); break;
                    case 4: a.xor(m, s); break;
                    case 5: a.cmp(m, s); break;
                    default: a.test(m, s); break;
                }
                break;
            }
            case 4:
            {
                var m = Mem(rng);
                switch (alu)
                {
                    case 0: a.add(m, imm); break;
                    case 1: a.or(m, imm); break;
                    case 2: a.and(m, imm); break;
                    case 3: a.sub(m, imm); break;
                    case 4: a.xor(m, imm); break;
                    case 5: a.cmp(m, imm); break;
                    default: a.test(m, imm); break;
                }
                break;
            }
            case 5:
                switch (rng.Next(4))
                {
                    case 0: a.inc(d); break;
                    case 1: a.dec(d); break;
                    case 2: a.inc(Mem(rng)); break;
                    default: a.dec(Mem(rng)); break;
                }
                break;
            case 6:
            {
                // A conditional jump over one instruction, for every condition code.
                var skip = a.CreateLabel();
                switch (rng.Next(16))
                {
                    case 0: a.jo(skip); break;
                    case 1: a.jno(skip); break;
                    case 2: a.jb(skip); break;
                    case 3: a.jae(skip); break;
                    case 4: a.je(skip); break;
                    case 5: a.jne(skip); break;
                    case 6: a.jbe(skip); break;
                    case 7: a.ja(skip); break;
                    case 8: a.js(skip); break;
                    case 9: a.jns(skip); break;
                    case 10: a.jp(skip); break;
                    case 11: a.jnp(skip); break;
                    case 12: a.jl(skip); break;
                    case 13: a.jge(skip); break;
                    case 14: a.jle(skip); break;
                    default: a.jg(skip); break;
                }
                a.add(d, 0x101);
                a.Label(ref skip);
                break;
            }
            case 7:
                switch (rng.Next(8))
                {
                    case 0: a.seto(d8); break;
                    case 1: a.setb(d8); break;
                    case 2: a.sete(Mem8(rng)); break;
                    case 3: a.setbe(d8); break;
                    case 4: a.sets(d8); break;
                    case 5: a.setp(d8); break;
                    case 6: a.setl(Mem8(rng)); break;
                    default: a.setle(d8); break;
                }
                break;
            case 8:
                switch (rng.Next(6))
                {
                    case 0: a.cmova(d, s); break;
                    case 1: a.cmovge(d, s); break;
                    case 2: a.cmovne(d, Mem(rng)); break;
                    case 3: a.cmovg(d, s); break;
                    case 4: a.cmovae(d, Mem(rng)); break;
                    default: a.cmovo(d, s); break;
                }
                break;
            case 9:
                if (rng.Next(2) == 0) a.adc(d, s); else a.sbb(d, imm);
                break;
            case 10:
                a.pushfd();
                a.pop(__dword_ptr[ebp + rng.Next(0, 0xF0) * 4]);
                break;
            case 11:
                switch (rng.Next(5))
                {
                    case 0: a.mov(d, s); break;
                    case 1: a.mov(d, Mem(rng)); break;
                    case 2: a.mov(Mem(rng), s); break;
                    case 3: a.mov(d, (uint)imm); break;
                    default: a.mov(Mem(rng), imm); break;
                }
                break;
            case 12:
                switch (rng.Next(5))
                {
                    case 0: a.mov(d8, s8); break;
                    case 1: a.mov(d8, Mem8(rng)); break;
                    case 2: a.mov(Mem8(rng), s8); break;
                    case 3: a.mov(Mem8(rng), (byte)imm); break;
                    default: a.mov(d8, (byte)imm); break;
                }
                break;
            case 13:
                switch (rng.Next(8))
                {
                    case 0: a.movzx(d, s8); break;
                    case 1: a.movzx(d, Mem8(rng)); break;
                    case 2: a.movsx(d, s8); break;
                    case 3: a.movsx(d, Mem8(rng)); break;
                    case 4: a.movzx(d, __word_ptr[ebp + rng.Next(0, 0x3F0)]); break;
                    case 5: a.movsx(d, __word_ptr[ebp + rng.Next(0, 0x3F0)]); break;
                    case 6: a.mov(__word_ptr[ebp + rng.Next(0, 0x3F0)], (ushort)imm); break;
                    default: a.mov(new AssemblerRegister16(d.Value.GetNumber() switch { 0 => Register.AX, 1 => Register.CX, 2 => Register.DX, 3 => Register.BX, _ => Register.SI }), __word_ptr[ebp + rng.Next(0, 0x3F0)]); break;
                }
                break;
            case 14:
                switch (rng.Next(6))
                {
                    case 0: a.cmp(d8, s8); break;
                    case 1: a.cmp(Mem8(rng), s8); break;
                    case 2: a.cmp(d8, Mem8(rng)); break;
                    case 3: a.cmp(d8, (byte)imm); break;
                    case 4: a.cmp(Mem8(rng), (byte)imm); break;
                    default: if (rng.Next(2) == 0) a.test(d8, s8); else a.test(Mem8(rng), (byte)imm); break;
                }
                break;
            case 15:
            {
                byte count = (byte)rng.Next(0, 40);
                switch (rng.Next(6))
                {
                    case 0: a.shl(d, count); break;
                    case 1: a.shr(d, count); break;
                    case 2: a.sar(d, count); break;
                    case 3: a.rol(d, 1); break;
                    case 4: a.ror(d, cl); break;
                    default: a.shl(d, cl); break;
                }
                break;
            }
            case 16:
                if (rng.Next(2) == 0) a.lea(d, __dword_ptr[s + edi * 8 + imm]);
                else a.lea(d, __dword_ptr[ebp + s * 2 - 12]);
                break;
            case 17:
                switch (rng.Next(3))
                {
                    case 0: a.push(s); break;
                    case 1: a.push(imm); break;
                    default: a.push(Mem(rng)); break;
                }
                a.pop(d);
                break;
            case 18:
                a.call(func);
                break;
            case 19:
                switch (rng.Next(3))
                {
                    case 0: a.imul(d, s); break;
                    case 1: a.imul(d, Mem(rng)); break;
                    default: a.imul(d, s, imm); break;
                }
                break;
            case 20:
                if (rng.Next(2) == 0) a.cdq(); else a.xchg(d, s);
                break;
            case 21:
                a.lahf();
                break;
            case 22:
                // INC then a carry consumer: CF must survive INC/DEC.
                a.add(d, s);
                a.inc(s);
                a.adc(d, 0);
                break;
            case 23:
            {
                var skip = a.CreateLabel();
                a.dec(d);
                if (rng.Next(2) == 0) a.jb(skip); else a.jle(skip);
                a.sub(d, 3);
                a.Label(ref skip);
                break;
            }
            case 24:
                a.neg(d);
                break;
            default:
                if (rng.Next(2) == 0) a.stc(); else a.clc();
                break;
        }
    }
}
