using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// DR0-DR3 breakpoints as SDM vol. 3 §17.2-17.3 describes them: an instruction breakpoint is a #DB fault before the
/// instruction (pushed RF = 0, and RF = 1 in the returned-to EFLAGS lets it run), a data breakpoint is a #DB trap
/// after the access (write-only or read/write, LEN aligning the address), DR6 names the breakpoint (B0-B3), DR7.GD
/// turns a MOV DR into a #DB fault with DR6.BD. Every test runs under both engines, with the translator's threshold
/// at 1, so hot loops would be translated blocks if breakpoints did not keep them interpreted.
/// </summary>
public sealed class DebugRegisterTests
{
    private const uint Handler = 0x4000, Sub = 0x3800, Count = 0x3000, Eips = 0x3100, Dr6s = 0x3200, Flags = 0x3300, Ecxs = 0x3400, Words = 0x3500;

    /// <summary>Flat ring 0 with a #DB handler that records, per entry, the pushed EIP, DR6 (then clears it), the
    /// pushed EFLAGS, ECX and the word at 0x5002, and returns with RF set.</summary>
    private static TestMachine Machine(string engine, Action<Iced.Intel.Assembler> body, Action<Iced.Intel.Assembler>? sub = null)
    {
        var m = new TestMachine();
        m.Cpu.Use(engine);
        m.Cpu.JitThreshold = 1;
        m.LoadBootTo32(body);
        m.SetIdt(1, TestMachine.Gate(TestMachine.Code32, Handler, 0xE, 0));
        m.Load(32, Handler, a =>
        {
            a.push(eax);
            a.push(ebx);
            a.mov(ebx, __dword_ptr[Count]);
            a.mov(eax, __dword_ptr[esp + 8]);
            a.mov(__dword_ptr[ebx * 4 + Eips], eax);
            a.mov(eax, dr6);
            a.mov(__dword_ptr[ebx * 4 + Dr6s], eax);
            a.mov(eax, __dword_ptr[esp + 16]);
            a.mov(__dword_ptr[ebx * 4 + Flags], eax);
            a.mov(__dword_ptr[ebx * 4 + Ecxs], ecx);
            a.movzx(eax, __word_ptr[0x5002]);
            a.mov(__dword_ptr[ebx * 4 + Words], eax);
            a.or(__dword_ptr[esp + 16], 0x10000);      // RF: the returned-to instruction runs past its breakpoint
            a.inc(__dword_ptr[Count]);
            a.xor(eax, eax);
            a.mov(dr6, eax);
            a.pop(ebx);
            a.pop(eax);
            a.iretd();
        });
        if (sub is not null) m.Load(32, Sub, sub);
        return m;
    }

    private static uint At(TestMachine m, uint table, int entry) => m.ReadU32(table + (uint)(4 * entry));

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void AnInstructionBreakpointFaultsBeforeTheInstructionEachTimeItIsReached(string engine)
    {
        var m = Machine(engine, a =>
        {
            var again = a.CreateLabel();
            a.xor(esi, esi);
            a.mov(eax, Sub);
            a.mov(dr0, eax);
            a.mov(eax, 1);                              // L0, R/W0 = 00 (execute), LEN0 = 00
            a.mov(dr7, eax);
            a.mov(ecx, 3);
            a.Label(ref again);
            a.mov(eax, Sub);
            a.call(eax);
            a.dec(ecx);
            a.jnz(again);
            a.xor(eax, eax);
            a.mov(dr7, eax);                            // disabled: the fourth call runs unseen
            a.mov(eax, Sub);
            a.call(eax);
            a.hlt();
        }, a =>
        {
            a.inc(esi);
            a.ret();
        });
        m.RunToHalt();
        Assert.Equal(3u, m.ReadU32(Count));
        Assert.Equal(4u, m.Cpu.Esi);                     // the instruction still ran every time, after its #DB
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(Sub, At(m, Eips, k));           // a fault: EIP of the instruction not yet executed
            Assert.Equal(0xFFFF0FF1u, At(m, Dr6s, k));   // B0
            Assert.Equal(0u, At(m, Flags, k) & 0x10000); // RF pushed as it was: 0
            Assert.Equal((uint)(3 - k), At(m, Ecxs, k));
        }
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void AWriteBreakpointTrapsAfterTheWriteInAHotLoopAndIgnoresReads(string engine)
    {
        var m = Machine(engine, a =>
        {
            var loop = a.CreateLabel();
            a.mov(eax, 0x5002);
            a.mov(dr1, eax);
            a.mov(eax, (1 << 2) | (0b01 << 20) | (0b01 << 22)); // L1, R/W1 = 01 (writes), LEN1 = 01 (2 bytes)
            a.mov(dr7, eax);
            a.xor(ecx, ecx);
            a.Label(ref loop);
            a.mov(eax, __dword_ptr[0x5000]);             // reads the watched word every time: no #DB
            a.mov(__word_ptr[ecx * 2 + 0x4FF0], cx);     // writes 0x5002 when ECX = 9
            a.inc(ecx);
            a.cmp(ecx, 3000);
            a.jne(loop);
            a.mov(__byte_ptr[0x5001], 1);                // next to the range: no #DB
            a.mov(__byte_ptr[0x5003], 7);                // its second byte: #DB
            a.xor(eax, eax);
            a.mov(dr7, eax);
            a.mov(__byte_ptr[0x5002], 5);                // disabled: no #DB
            a.hlt();
        });
        m.RunToHalt(200_000);
        Assert.Equal(2u, m.ReadU32(Count));
        Assert.Equal(9u, At(m, Ecxs, 0));                // a trap right after the write, before the INC
        Assert.Equal(9u, At(m, Words, 0));               // the write had landed when the handler ran
        Assert.Equal(0x0709u, At(m, Words, 1));
        for (int k = 0; k < 2; k++)
        {
            Assert.Equal(0xFFFF0FF2u, At(m, Dr6s, k));   // B1
            Assert.Equal(0u, At(m, Flags, k) & 0x10000);
        }
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void AReadWriteBreakpointTrapsOnAReadAndItsLengthAlignsTheAddress(string engine)
    {
        var m = Machine(engine, a =>
        {
            a.mov(eax, 0x5103);                          // LEN 4: the breakpoint covers 0x5100-0x5103
            a.mov(dr2, eax);
            a.mov(eax, (1 << 4) | (0b11 << 24) | (0b11 << 26)); // L2, R/W2 = 11, LEN2 = 11
            a.mov(dr7, eax);
            a.mov(eax, __dword_ptr[0x5104]);             // next dword: no #DB
            a.mov(al, __byte_ptr[0x5100]);               // a read of the first byte: #DB
            a.mov(ecx, 0x55);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(1u, m.ReadU32(Count));
        Assert.Equal(0xFFFF0FF4u, At(m, Dr6s, 0));       // B2
        Assert.Equal(0u, At(m, Ecxs, 0));                // before MOV ECX: reported right after the read
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void GeneralDetectMakesAMovFromADebugRegisterADebugFaultAndIsCleared(string engine)
    {
        var m = Machine(engine, a =>
        {
            a.mov(eax, 0x2000);                          // GD
            a.mov(dr7, eax);
            a.mov(eax, Sub);
            a.call(eax);
            a.hlt();
        }, a =>
        {
            a.mov(eax, dr0);                             // #DB (BD); after the handler's IRET it runs
            a.mov(ebx, dr7);
            a.ret();
        });
        m.RunToHalt();
        Assert.Equal(1u, m.ReadU32(Count));
        Assert.Equal(Sub, At(m, Eips, 0));
        Assert.Equal(0xFFFF2FF0u, At(m, Dr6s, 0));       // BD
        Assert.Equal(0x10000u, At(m, Flags, 0) & 0x10000); // a fault-class #DB pushes RF = 1
        Assert.Equal(0x400u, m.Cpu.Ebx);                 // GD was cleared on the way into the handler
    }
    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void WithCr4DeAnIoBreakpointTrapsAfterEachPortAccessAndAfterEachRepOutsIteration(string engine)
    {
        var m = Machine(engine, a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 8);                                // CR4.DE: R/W = 10 means I/O (SDM vol. 3 §17.2.4)
            a.mov(cr4, eax);
            a.mov(eax, 0x80);
            a.mov(dr0, eax);
            a.mov(eax, 0x71);                            // LEN 2: the breakpoint covers ports 0x70-0x71
            a.mov(dr3, eax);
            a.mov(eax, 1 | (0b10 << 16) | (1 << 6) | (0b10 << 28) | (0b01 << 30)); // L0 I/O 1 byte, L3 I/O 2 bytes
            a.mov(dr7, eax);
            a.mov(ecx, 1);
            a.@out(0x80, al);                            // #DB after the OUT
            a.mov(ecx, 2);
            a.@in(al, 0x81);                             // the next port: no #DB
            a.mov(__byte_ptr[0x80], al);                 // memory at 0x80 is not port 0x80: no #DB
            a.mov(ecx, 3);
            a.@in(al, 0x70);
            a.mov(ecx, 4);
            a.@in(ax, 0x6f);                             // 0x6f-0x70 overlaps the range
            a.mov(esi, 0x5100);
            a.mov(edx, 0x80);
            a.mov(ecx, 5);
            a.mov(eax, Sub);
            a.call(eax);
            a.hlt();
        }, a =>
        {
            a.rep.outsb();                               // every iteration writes port 0x80
            a.ret();
        });
        m.RunToHalt();
        Assert.Equal(8u, m.ReadU32(Count));
        uint[] ecxAtTrap = [1, 3, 4, 4, 3, 2, 1, 0];
        uint[] dr6 = [0xFFFF0FF1, 0xFFFF0FF8, 0xFFFF0FF8, 0xFFFF0FF1, 0xFFFF0FF1, 0xFFFF0FF1, 0xFFFF0FF1, 0xFFFF0FF1];
        for (int k = 0; k < 8; k++)
        {
            Assert.Equal(ecxAtTrap[k], At(m, Ecxs, k));       // a trap: the access done, the next instruction not begun
            Assert.Equal(dr6[k], At(m, Dr6s, k));
        }
        // REP OUTSB: after each iteration but the last the trap returns to the instruction itself (iterations remain).
        // Such a trap pushes RF = 1 (SDM vol. 3 §17.3.1.1); after the last iteration, and after IN/OUT, RF is as it was.
        for (int k = 3; k < 7; k++)
        {
            Assert.Equal(Sub, At(m, Eips, k));
            Assert.Equal(0x10000u, At(m, Flags, k) & 0x10000);
        }
        Assert.Equal(Sub + 2, At(m, Eips, 7));
        foreach (int k in new[] { 0, 1, 2, 7 }) Assert.Equal(0u, At(m, Flags, k) & 0x10000);
        Assert.Equal(5, m.Bus.Outs.Count(o => o.Port == 0x80 && o.Size == 1) - 1); // the OUT before, then five bytes
    }

    [Theory]
    [MemberData(nameof(CpuEngines.All), MemberType = typeof(CpuEngines))]
    public void ADataBreakpointInARepStringInstructionTrapsAfterTheIterationThatHitsIt(string engine)
    {
        var m = Machine(engine, a =>
        {
            a.mov(eax, 0x5002);
            a.mov(dr1, eax);
            a.mov(eax, (1 << 2) | (0b01 << 20) | (0b01 << 22)); // L1, writes, 2 bytes
            a.mov(dr7, eax);
            a.cld();
            a.mov(eax, 0x1234);
            a.mov(edx, Sub);
            a.mov(edi, 0x4FF0);
            a.mov(ecx, 100);
            a.call(edx);                                 // the tenth of 100 words lands on 0x5002
            a.mov(edi, 0x5002);
            a.mov(ecx, 1);
            a.call(edx);                                 // a hit in the last iteration
            a.hlt();
        }, a =>
        {
            a.rep.stosw();
            a.ret();
        });
        m.RunToHalt();
        Assert.Equal(2u, m.ReadU32(Count));
        Assert.Equal(90u, At(m, Ecxs, 0));               // right after the tenth iteration, not after a chunk of them
        Assert.Equal(0x1234u, At(m, Words, 0));
        Assert.Equal(Sub, At(m, Eips, 0));               // iterations remain: EIP still at the REP instruction
        Assert.Equal(0x10000u, At(m, Flags, 0) & 0x10000); // and RF = 1 pushed, so it resumes past an instruction breakpoint
        Assert.Equal(0u, At(m, Ecxs, 1));
        Assert.Equal(Sub + 3, At(m, Eips, 1));           // the last iteration: EIP after it, RF pushed as it was
        Assert.Equal(0u, At(m, Flags, 1) & 0x10000);
        for (int k = 0; k < 2; k++) Assert.Equal(0xFFFF0FF2u, At(m, Dr6s, k));
        Assert.Equal(0x1234u, m.ReadU32(0x4FF0 + 2 * 99) & 0xFFFF); // the instruction finished after the #DB
        Assert.Equal(0x5004u, m.Cpu.Edi);
    }
}
