using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// With a controller that announces INTR changes (<see cref="IInterruptLineSignal"/>) the CPU stops polling it
/// per instruction, but an interrupt must still arrive at exactly the instruction boundary it would otherwise.
/// </summary>
public sealed class InterruptLineSignalTests
{
    /// <summary>An 8259 stand-in: OUT 0x80 raises INTR with vector 0x20 and announces it, as the machine's PIC does.</summary>
    private sealed class AnnouncingController : IInterruptController, IInterruptLineSignal, ICpuBus
    {
        public byte? Pending;
        public int Polls;
        public event Action? LineChanged;

        public bool InterruptPending { get { Polls++; return Pending.HasValue; } }

        public byte AcknowledgeInterrupt()
        {
            byte v = Pending ?? 0xFF;
            Pending = null;
            LineChanged?.Invoke();
            return v;
        }

        public void Raise(byte vector)
        {
            Pending = vector;
            LineChanged?.Invoke();
        }

        public uint ReadMmio(ulong address, int size) => 0xFFFFFFFF;
        public void WriteMmio(ulong address, int size, uint value) { }
        public uint In(ushort port, int size) => 0xFFFFFFFF;
        public void Out(ushort port, int size, uint value) { if (port == 0x80) Raise(0x20); }
        public ulong ReadTimestampCounter() => 0;
    }

    private static (X86Cpu Cpu, PhysicalMemory Memory, AnnouncingController Pic) Boot(Action<Iced.Intel.Assembler> body)
    {
        // TestMachine builds the tables and boot stub; the CPU under test shares its memory with our controller.
        var layout = new TestMachine();
        layout.LoadBootTo32(body);
        layout.SetIdt(0x20, TestMachine.Gate(TestMachine.Code32, 0x2F00, 0xE, 0));
        layout.Load(32, 0x2F00, a =>
        {
            a.mov(__dword_ptr[0x3000], ecx);
            a.hlt();
        });
        var pic = new AnnouncingController();
        var cpu = new X86Cpu(layout.Memory, pic, pic);
        cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        cpu.Eip = 0x1000;
        return (cpu, layout.Memory, pic);
    }

    private static uint ReadU32(PhysicalMemory m, uint address)
    {
        var b = new byte[4];
        m.Read(address, b);
        return BitConverter.ToUInt32(b);
    }

    private static void RunToHalt(X86Cpu cpu)
    {
        for (int k = 0; k < 100 && !cpu.Halted; k++) cpu.Run(1000);
        Assert.True(cpu.Halted);
    }

    [Fact]
    public void InterruptRaisedByAnOutIsTakenRightAfterIt()
    {
        var (cpu, mem, pic) = Boot(a =>
        {
            a.xor(ecx, ecx);
            a.sti();
            for (int k = 0; k < 50; k++) a.inc(ecx);
            a.@out(0x80, al);
            for (int k = 0; k < 50; k++) a.inc(ecx);
            a.mov(__dword_ptr[0x3000], 0xDEAD);
            a.hlt();
        });
        RunToHalt(cpu);
        Assert.Equal(50u, ReadU32(mem, 0x3000));
        // INTR was known low for the 50 INCs: the CPU asked only around the STI and after the OUT's announcement.
        Assert.True(pic.Polls < 10, $"polled {pic.Polls} times");
    }

    [Fact]
    public void LineRaisedBetweenRunsIsTakenAtTheNextBoundaryButNotInsideTheStiShadow()
    {
        var (cpu, mem, pic) = Boot(a =>
        {
            var spin = a.CreateLabel();
            a.xor(ecx, ecx);
            a.sti();
            a.Label(ref spin);
            a.inc(ecx);
            a.jmp(spin);
        });
        cpu.Run(200);
        uint before = cpu.Ecx;
        Assert.True(before > 50);
        pic.Raise(0x20);
        RunToHalt(cpu);
        // The spin loop executed nothing more once INTR rose between the two Run calls.
        Assert.Equal(before, ReadU32(mem, 0x3000));
    }

    [Fact]
    public void PendingLineWaitsOutTheInstructionAfterSti()
    {
        var (cpu, mem, pic) = Boot(a =>
        {
            a.xor(ecx, ecx);
            a.@out(0x80, al); // INTR high while IF = 0
            a.inc(ecx);
            a.sti();
            a.inc(ecx);       // the STI shadow: runs before the interrupt
            a.inc(ecx);
            a.hlt();
        });
        RunToHalt(cpu);
        Assert.Equal(2u, ReadU32(mem, 0x3000));
    }
}
