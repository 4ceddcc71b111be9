using System.Text;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class SystemTests
{
    private static TestMachine Real(Action<Iced.Intel.Assembler> code)
    {
        var m = new TestMachine();
        m.Load(16, 0x1000, code);
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.SetSegmentReal(SegmentRegister.Ss, 0);
        m.Cpu.Esp = 0x8000;
        m.Cpu.Eip = 0x1000;
        return m;
    }

    [Fact]
    public void CpuidReportsGenuineIntelFamily6WithExactlyTheImplementedFeatures()
    {
        var m = Real(a =>
        {
            a.xor(eax, eax);
            a.cpuid();
            a.mov(__[0x3000], ebx);
            a.mov(__[0x3004], edx);
            a.mov(__[0x3008], ecx);
            a.mov(eax, 1);
            a.cpuid();
            a.hlt();
        });
        m.RunToHalt();
        var vendor = new byte[12];
        m.Memory.Read(0x3000, vendor);
        Assert.Equal("GenuineIntel", Encoding.ASCII.GetString(vendor));
        Assert.Equal(6u, (m.Cpu.Eax >> 8) & 0xF);
        // FPU VME DE PSE TSC MSR CX8 CMOV
        Assert.Equal(0x813Fu, m.Cpu.Edx);
        Assert.Equal(0u, m.Cpu.Ecx);
    }

    [Fact]
    public void RdtscAndTscMsrFollowTheMachineClock()
    {
        var m = Real(a =>
        {
            a.rdtsc();
            a.mov(__[0x3000], eax);
            a.mov(ecx, 0x10);
            a.xor(edx, edx);
            a.mov(eax, 1000);
            a.wrmsr();
            a.rdtsc();
            a.hlt();
        });
        m.Bus.Tsc = 500;
        m.RunToHalt();
        Assert.Equal(500u, m.ReadU32(0x3000));
        Assert.Equal(1000u, m.Cpu.Eax);
    }

    [Fact]
    public void ExternalInterruptWaitsForTheShadowAfterSti()
    {
        var m = Real(a =>
        {
            a.sti();
            a.mov(bx, 1);   // runs in the STI shadow
            a.mov(bx, 2);
            a.hlt();
        });
        // IVT[0x20] -> 0000:2000, handler records BX and halts.
        m.WriteU32(0x20 * 4, 0x2000);
        m.Load(16, 0x2000, a => { a.mov(__[0x3000], bx); a.hlt(); });
        m.Interrupts.Pending = 0x20;
        m.RunToHalt();
        Assert.Equal(1u, m.ReadU32(0x3000) & 0xFFFF);
    }

    [Fact]
    public void HaltedCpuWakesForAnInterruptAndReturnsEarlyWithoutOne()
    {
        var m = Real(a => { a.sti(); a.hlt(); a.mov(__word_ptr[0x3002], 0x77); a.hlt(); });
        m.WriteU32(0x21 * 4, 0x2000);
        m.Load(16, 0x2000, a => { a.mov(__word_ptr[0x3000], 0x55); a.iret(); });
        int n = m.Cpu.Run(1000);
        Assert.True(m.Cpu.Halted);
        Assert.Equal(2, n);
        m.Interrupts.Pending = 0x21;
        m.Cpu.Run(1000);
        Assert.Equal(0x55u, m.ReadU32(0x3000) & 0xFFFF);
        Assert.Equal(0x77u, m.ReadU32(0x3002) & 0xFFFF);
    }

    [Fact]
    public void TrapFlagSingleStepsThroughIntOne()
    {
        var m = Real(a =>
        {
            a.pushf();
            a.pop(ax);
            a.or(ax, 0x100);
            a.push(ax);
            a.popf();       // TF on: #DB after each following instruction
            a.nop();
            a.nop();
            a.hlt();
        });
        m.WriteU32(1 * 4, 0x2000);
        m.Load(16, 0x2000, a => { a.inc(__word_ptr[0x3000]); a.iret(); });
        m.RunToHalt();
        // TF is sampled at the start of an instruction: no trap after the POPF that sets it, one after each NOP;
        // IRET from the handler restores TF without trapping itself, and HLT ends the run.
        Assert.Equal(2u, m.ReadU32(0x3000) & 0xFFFF);
    }

    [Fact]
    public void A20GateWrapsAddressesAtOneMegabyte()
    {
        var m = Real(a =>
        {
            a.mov(ax, 0xFFFF);
            a.mov(ds, ax);
            a.mov(__byte_ptr[0x0010], 0xAB);   // FFFF:0010 = 0x100000
            a.hlt();
        });
        m.Cpu.A20Enabled = false;
        m.RunToHalt();
        var b = new byte[1];
        m.Memory.Read(0, b);
        Assert.Equal(0xAB, b[0]);
        m.Memory.Read(0x100000, b);
        Assert.Equal(0, b[0]);
    }

    [Fact]
    public void SavedStateResumesToTheSameResult()
    {
        var m = Real(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 1000);
            a.xor(eax, eax);
            a.Label(ref top);
            a.add(eax, ecx);
            a.rol(eax, 3);
            a.loop(top);
            a.hlt();
        });
        m.Cpu.Run(500);
        var ms = new MemoryStream();
        m.Cpu.SaveState(new BinaryWriter(ms));
        m.RunToHalt();
        uint expected = m.Cpu.Eax;
        ms.Position = 0;
        m.Cpu.LoadState(new BinaryReader(ms));
        Assert.False(m.Cpu.Halted);
        m.RunToHalt();
        Assert.Equal(expected, m.Cpu.Eax);
    }

    [Fact]
    public void CorruptStateIsRejectedWithAMessage()
    {
        var m = Real(a => a.hlt());
        var ms = new MemoryStream();
        m.Cpu.SaveState(new BinaryWriter(ms));
        byte[] bytes = ms.ToArray();
        var truncated = new MemoryStream(bytes, 0, 40);
        var e = Assert.Throws<InvalidDataException>(() => m.Cpu.LoadState(new BinaryReader(truncated)));
        Assert.Contains("truncated", e.Message);
        // CPL is a field with a range (offset: 8 registers, EIP, EFLAGS, 6 segments of 13 bytes, CR0-4, GDTR/IDTR,
        // LDTR/TR of 12 bytes, DR0-7).
        int cplAt = 4 * 10 + 6 * 13 + 4 * 4 + 4 * 4 + 2 * 12 + 8 * 4;
        BitConverter.GetBytes(7).CopyTo(bytes, cplAt);
        e = Assert.Throws<InvalidDataException>(() => m.Cpu.LoadState(new BinaryReader(new MemoryStream(bytes))));
        Assert.Contains("CPL 7", e.Message);
    }
}
