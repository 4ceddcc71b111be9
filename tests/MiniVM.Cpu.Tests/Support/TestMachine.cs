using Iced.Intel;

namespace MiniVM.Cpu.Tests.Support;

/// <summary>
/// A bare CPU + RAM for assembled guest programs. Standard layout for the protected-mode tests:
/// GDT at 0x500, IDT at 0x800 (256 gates, up to 0x1000), TSSs at 0x6000/0x6100, real-mode boot stub at 0x1000, 32-bit code at 0x2000,
/// results written by guest code around 0x3000.
/// </summary>
public sealed class TestMachine
{
    public const uint GdtBase = 0x500, IdtBase = 0x800, Tss1 = 0x6000, Tss2 = 0x6100;
    public const ushort Code32 = 0x08, Data32 = 0x10, UserCode = 0x1B, UserData = 0x23, Tss1Sel = 0x28, Tss2Sel = 0x30, CallGate = 0x3B, Code16 = 0x40, Data16 = 0x48;

    public readonly PhysicalMemory Memory;
    public readonly TestBus Bus = new();
    public readonly TestInterrupts Interrupts = new();
    public readonly X86Cpu Cpu;

    public TestMachine(long ramBytes = 8 << 20)
    {
        Memory = new PhysicalMemory(ramBytes);
        Cpu = new X86Cpu(Memory, Bus, Interrupts);
    }

    public static byte[] Assemble(int bitness, ulong address, Action<Assembler> build)
    {
        var a = new Assembler(bitness);
        build(a);
        var w = new ByteWriter();
        a.Assemble(w, address);
        return w.ToArray();
    }

    public void Load(uint address, byte[] bytes) => Memory.Write(address, bytes);

    public void Load(int bitness, uint address, Action<Assembler> build) => Load(address, Assemble(bitness, address, build));

    public uint ReadU32(uint address)
    {
        var b = new byte[4];
        Memory.Read(address, b);
        return BitConverter.ToUInt32(b);
    }

    public void WriteU32(uint address, uint value) => Memory.Write(address, BitConverter.GetBytes(value));

    public void WriteU16(uint address, ushort value) => Memory.Write(address, BitConverter.GetBytes(value));

    /// <summary>A segment descriptor: <paramref name="access"/> is byte 5 (P DPL S type), <paramref name="flags"/> the G/D nibble.</summary>
    public static ulong Descriptor(uint baseAddress, uint limit, byte access, byte flags = 0xC)
    {
        ulong d = limit & 0xFFFF;
        d |= (ulong)(baseAddress & 0xFFFFFF) << 16;
        d |= (ulong)access << 40;
        d |= (ulong)((limit >> 16) & 0xF) << 48;
        d |= (ulong)(flags & 0xF) << 52;
        d |= (ulong)(baseAddress >> 24) << 56;
        return d;
    }

    /// <summary>Gate descriptor (call/interrupt/trap/task): <paramref name="type"/> 0x5, 0xC, 0xE, 0xF.</summary>
    public static ulong Gate(ushort selector, uint offset, int type, int dpl, int paramCount = 0) =>
        (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(paramCount & 0x1F) << 32) | ((ulong)(0x80 | (dpl << 5) | type) << 40) | ((ulong)(offset >> 16) << 48);

    public void WriteDescriptor(uint tableBase, int index, ulong d)
    {
        WriteU32(tableBase + (uint)index * 8, (uint)d);
        WriteU32(tableBase + (uint)index * 8 + 4, (uint)(d >> 32));
    }

    /// <summary>The standard GDT (see the class summary) and a 32-entry IDT with every gate absent.</summary>
    public void WriteStandardTables()
    {
        WriteDescriptor(GdtBase, 0, 0);
        WriteDescriptor(GdtBase, 1, Descriptor(0, 0xFFFFF, 0x9A));
        WriteDescriptor(GdtBase, 2, Descriptor(0, 0xFFFFF, 0x92));
        WriteDescriptor(GdtBase, 3, Descriptor(0, 0xFFFFF, 0xFA));
        WriteDescriptor(GdtBase, 4, Descriptor(0, 0xFFFFF, 0xF2));
        WriteDescriptor(GdtBase, 5, Descriptor(Tss1, 0x67, 0x89, 0));
        WriteDescriptor(GdtBase, 6, Descriptor(Tss2, 0x67, 0x89, 0));
        WriteDescriptor(GdtBase, 8, Descriptor(0, 0xFFFF, 0x9A, 0));
        WriteDescriptor(GdtBase, 9, Descriptor(0, 0xFFFF, 0x92, 0));
        // GDTR image at 0x4F0 (limit, base) and IDTR image at 0x4F8 for the boot stub.
        WriteU16(0x4F0, 10 * 8 - 1);
        WriteU32(0x4F2, GdtBase);
        WriteU16(0x4F8, 256 * 8 - 1);
        WriteU32(0x4FA, IdtBase);
    }

    public void SetIdt(int vector, ulong gate) => WriteDescriptor(IdtBase, vector, gate);

    /// <summary>
    /// Boots from real mode at 0x1000 into flat 32-bit ring 0 at 0x2000 (CS 0x08, data 0x10, ESP 0x80000),
    /// with the 32-bit program built by <paramref name="body"/>.
    /// </summary>
    public void LoadBootTo32(Action<Assembler> body)
    {
        WriteStandardTables();
        Load(16, 0x1000, a =>
        {
            a.cli();
            a.lgdt(AssemblerRegisters.__[0x4F0]);
            a.lidt(AssemblerRegisters.__[0x4F8]);
            a.mov(AssemblerRegisters.eax, AssemblerRegisters.cr0);
            a.or(AssemblerRegisters.eax, 1);
            a.mov(AssemblerRegisters.cr0, AssemblerRegisters.eax);
            a.jmp(Code32, 0x2000);
        });
        Load(32, 0x2000, a =>
        {
            a.mov(AssemblerRegisters.ax, Data32);
            a.mov(AssemblerRegisters.ds, AssemblerRegisters.ax);
            a.mov(AssemblerRegisters.es, AssemblerRegisters.ax);
            a.mov(AssemblerRegisters.fs, AssemblerRegisters.ax);
            a.mov(AssemblerRegisters.gs, AssemblerRegisters.ax);
            a.mov(AssemblerRegisters.ss, AssemblerRegisters.ax);
            a.mov(AssemblerRegisters.esp, 0x80000);
            body(a);
        });
        Cpu.Reset();
        Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        Cpu.Eip = 0x1000;
    }

    /// <summary>Runs until HLT (or the budget is spent); fails the test if the guest never halts.</summary>
    public void RunToHalt(int budget = 100_000)
    {
        var log = new List<string>();
        Cpu.ExceptionRaised += (v, e) => { if (log.Count < 8) log.Add($"#{v}({e:X}) at {Cpu.GetSegment(SegmentRegister.Cs).Selector:X}:{Cpu.Eip:X}"); };
        int total = 0;
        while (total < budget && !Cpu.Halted && !Cpu.ShutdownPending)
        {
            int n = Cpu.Run(Math.Min(10_000, budget - total));
            total += n;
            if (n == 0) break;
        }
        Assert.True(Cpu.Halted, $"guest did not halt: EIP={Cpu.Eip:X8} CS={Cpu.GetSegment(SegmentRegister.Cs).Selector:X4} exceptions {string.Join(", ", log)}");
    }

    private sealed class ByteWriter : CodeWriter
    {
        private readonly List<byte> _bytes = [];
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => _bytes.ToArray();
    }
}
