using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Code that changes under the CPU, by the guest's own stores or by DMA (<see cref="PhysicalMemory.Write"/>), under
/// both engines: the translating one must drop or leave the translations the same way the decode cache does
/// (JitThreshold 1, so even code run twice is translated). The loops compare the whole Run-by-Run trace with the
/// interpreter's and a value computed here.
/// </summary>
public sealed class SelfModifyingCodeTests
{
    private static TestMachine NewMachine(string engine)
    {
        var m = new TestMachine();
        m.Cpu.Use(engine).JitThreshold = 1;
        return m;
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void GuestStoreIntoAlreadyExecutedCodeIsSeenNextTime(string engine)
    {
        var m = NewMachine(engine);
        // Loop twice over "MOV AL, imm8; ADD BL, AL", patching the immediate after the first pass.
        var a = new Assembler(16);
        var top = a.CreateLabel();
        a.mov(cx, 2);
        a.xor(bl, bl);
        a.Label(ref top);
        a.mov(al, 0x11);           // at 0x1005: B0 11 -> immediate at 0x1006
        a.add(bl, al);
        a.mov(__byte_ptr[0x1006], 0x22);
        a.dec(cx);
        a.jnz(top);
        a.hlt();
        m.Load(0x1000, Assemble(a, 0x1000));
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x33u, m.Cpu.Ebx & 0xFF);
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void DmaWriteOverDecodedCodeInvalidatesIt(string engine)
    {
        var m = NewMachine(engine);
        m.Load(16, 0x1000, a => { a.mov(ax, 0x1111); a.hlt(); });
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x1111u, m.Cpu.Eax);
        m.Load(16, 0x1000, a => { a.mov(ax, 0x2222); a.hlt(); }); // a device (DMA) rewrites the page
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x2222u, m.Cpu.Eax);
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void SameBytesDecodeDifferentlyIn16And32BitCode(string engine)
    {
        var m = NewMachine(engine);
        // B8 78 56 34 12 is MOV AX,5678 + junk in 16-bit code but MOV EAX,12345678 in 32-bit code.
        m.LoadBootTo32(a => { a.db(0xB8, 0x78, 0x56, 0x34, 0x12); a.hlt(); });
        m.Load(0x7000, [0xB8, 0x78, 0x56, 0xF4]);
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0x700);
        m.Cpu.Eip = 0;
        m.RunToHalt();
        Assert.Equal(0x5678u, m.Cpu.Eax);
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x12345678u, m.Cpu.Eax);
    }

    /// <summary>
    /// A hot loop whose body stores into its own next instruction (the immediate of ADD, then its opcode byte, turning
    /// ADD into AND on odd counts) and into the loop's first instruction, already executed this iteration. The stores
    /// re-decode the loop head every iteration, so only "translate at first sight" gets it translated.
    /// </summary>
    [Fact]
    public void LoopPatchingItsOwnNextInstructionMatchesTheInterpreter()
    {
        const int jitThreshold = 1;
        const uint code = 0x3000;
        void Program(Assembler a)
        {
            a.jmp(code);
        }
        byte[] pattern = [0x05, 0x00, 0x11, 0x11, 0x11];
        byte[] Build(uint patched) => TestMachine.Assemble(32, code, a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 300);
            a.xor(eax, eax);
            a.xor(ebx, ebx);
            a.Label(ref top);
            a.add(ebx, 1);                                  // 0x3009: 83 C3 01 -> its immediate is rewritten below
            a.mov(__byte_ptr[patched + 1], cl);             // the low byte of the ADD's immediate below
            a.mov(edx, ecx);
            a.and(edx, 1);
            a.shl(edx, 5);                                  // 0 or 0x20
            a.or(edx, 0x05);                                // 0x05 = ADD EAX, imm32; 0x25 = AND EAX, imm32 on odd counts
            a.mov(__byte_ptr[patched], dl);
            a.db(pattern);                                  // ADD/AND EAX, 0x111111xx
            a.mov(__byte_ptr[code + 0x0B], 2);              // the first ADD adds 2 from the next iteration on
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        // The patched instruction's address, from a first assembly (MOV [disp32], r8 has one size whatever the address).
        uint patchedAt = code + (uint)Build(0).AsSpan().IndexOf(pattern);
        byte[] loop = Build(patchedAt);
        Assert.Equal(0x83, loop[0x09]); // ADD EBX, imm8 at the loop head: its immediate is at 0x300B
        var traces = new List<List<uint>>();
        var results = new List<(uint Eax, uint Ebx)>();
        foreach (string engine in new[] { CpuEngines.Interpreter, CpuEngines.Jit })
        {
            var m = new TestMachine();
            m.Cpu.Use(engine).JitThreshold = jitThreshold;
            m.LoadBootTo32(Program);
            m.Load(code, loop);
            traces.Add(RunTrace(m, seed: 7));
            Assert.True(m.Cpu.Halted, $"{engine}: did not halt at EIP {m.Cpu.Eip:X}");
            results.Add((m.Cpu.Eax, m.Cpu.Ebx));
            if (engine == CpuEngines.Jit) Assert.True(m.Cpu.JitStatistics.BlocksTranslated > 1, m.Cpu.JitStatistics.ToString());
        }
        // Expected, computed here: ECX counts 300..1; ADD on even counts, AND on odd, immediate 0x111111cc.
        uint expectedEax = 0;
        for (uint c = 300; c >= 1; c--)
            expectedEax = (c & 1) == 0 ? expectedEax + (0x11111100u | (c & 0xFF)) : expectedEax & (0x11111100u | (c & 0xFF));
        Assert.Equal((expectedEax, 1u + 2 * 299), results[0]);
        Assert.Equal(results[0], results[1]);
        Assert.Equal(traces[0], traces[1]);
    }

    /// <summary>A device writes a new immediate into a hot (translated) loop between two Run calls: the rest of the loop uses it.</summary>
    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void DmaIntoAHotLoopBetweenRunsTakesEffectAtTheNextInstruction(string engine)
    {
        const uint code = 0x3000;
        var m = NewMachine(engine);
        m.LoadBootTo32(a => a.jmp(code));
        m.Load(32, code, a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 1000);
            a.xor(eax, eax);
            a.Label(ref top);
            a.add(eax, 0x10000);   // 0x3007: 05 00 00 01 00
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        // To the loop head, then exactly 400 iterations (3 instructions each): EIP back at the ADD.
        while (m.Cpu.Eip != code) Assert.Equal(1, m.Cpu.Run(1));
        Assert.Equal(2, m.Cpu.Run(2));
        int done = 0;
        while (done < 400 * 3) done += m.Cpu.Run(Math.Min(97, 400 * 3 - done));
        Assert.Equal(0x3007u, m.Cpu.Eip);
        Assert.Equal(400u * 0x10000, m.Cpu.Eax);
        m.Memory.Write(0x3008, [0x01, 0x00, 0x00, 0x00]); // ADD EAX, 1 from now on
        m.RunToHalt(10_000);
        Assert.Equal(400u * 0x10000 + 600, m.Cpu.Eax);
        if (engine == CpuEngines.Jit) Assert.True(m.Cpu.JitStatistics.InstructionsInBlocks > 1000, m.Cpu.JitStatistics.ToString());
    }

    /// <summary>Runs to HLT with a seeded schedule of small budgets; after every call the count, EIP and registers.</summary>
    private static List<uint> RunTrace(TestMachine m, int seed)
    {
        var rng = new Random(seed);
        var trace = new List<uint>();
        for (int total = 0; total < 100_000 && !m.Cpu.Halted;)
        {
            int n = m.Cpu.Run(rng.Next(4) == 0 ? 1 : rng.Next(2, 60));
            total += n;
            trace.Add((uint)n);
            trace.Add(m.Cpu.Eip);
            for (int r = 0; r < 8; r++) trace.Add(m.Cpu.GetRegister((GeneralRegister)r));
            trace.Add(m.Cpu.Eflags);
        }
        return trace;
    }

    private static byte[] Assemble(Assembler a, ulong ip)
    {
        var w = new BytesWriter();
        a.Assemble(w, ip);
        return w.Bytes.ToArray();
    }

    private sealed class BytesWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
