using Iced.Intel;
using MiniVM.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Bench.Cpu;

/// <summary>
/// A guest in paged 32-bit protected mode (4 KiB pages, CR0.WP) running a loop of ALU work, loads and stores,
/// a taken branch and a CALL/RET pair: the instruction mix of ordinary compiled code.
/// </summary>
public sealed class GuestLoop
{
    private const uint PageDirectory = 0x10000, PageTable = 0x11000, Gdt = 0x500;

    public readonly X86Cpu Cpu;
    public readonly PhysicalMemory Memory;
    public readonly int InstructionsPerIteration;

    private sealed class NullBus : ICpuBus
    {
        public ulong Tsc;
        public uint ReadMmio(ulong address, int size) => 0xFFFFFFFF;
        public void WriteMmio(ulong address, int size, uint value) { }
        public uint In(ushort port, int size) => 0xFFFFFFFF;
        public void Out(ushort port, int size, uint value) { }
        public ulong ReadTimestampCounter() => Tsc++;
    }

    /// <summary>INTR never rises; like the machine's 8259 it announces changes, so IF = 1 costs no poll per instruction.</summary>
    private sealed class NoInterrupts : IInterruptController, IInterruptLineSignal
    {
        public bool InterruptPending => false;
        public byte AcknowledgeInterrupt() => 0xFF;
        public event Action? LineChanged { add { } remove { } }
    }

    public GuestLoop(uint iterations, bool interruptsEnabled = false)
    {
        Memory = new PhysicalMemory(8 << 20);
        Cpu = new X86Cpu(Memory, new NullBus(), new NoInterrupts());
        WriteU32(PageDirectory, PageTable | 3);
        for (uint i = 0; i < 1024; i++) WriteU32(PageTable + i * 4, (i << 12) | 3);
        WriteU32(Gdt + 8, 0x0000FFFF); WriteU32(Gdt + 12, 0x00CF9A00);
        WriteU32(Gdt + 16, 0x0000FFFF); WriteU32(Gdt + 20, 0x00CF9200);
        Memory.Write(0x4F0, [0x17, 0x00, 0x00, 0x05, 0x00, 0x00]);
        Load(16, 0x1000, a =>
        {
            a.cli();
            a.lgdt(__[0x4F0]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(0x08, 0x2000);
        });
        int perIteration = 0;
        Load(32, 0x2000, a =>
        {
            var top = a.CreateLabel();
            var func = a.CreateLabel();
            var skip = a.CreateLabel();
            a.mov(ax, 0x10);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(esp, 0x80000);
            a.mov(eax, PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80010000));
            a.mov(cr0, eax);
            if (interruptsEnabled) a.sti(); // as under an OS: IF=1 makes the CPU poll INTR between instructions
            a.mov(ecx, iterations);
            a.xor(esi, esi);
            a.xor(eax, eax);
            a.Label(ref top);
            a.add(eax, ecx);                       // 1
            a.xor(ebx, eax);                       // 2
            a.mov(__[esi + 0x100000], eax);        // 3
            a.mov(edx, __[esi + 0x100000]);        // 4
            a.add(esi, 4);                         // 5
            a.and(esi, 0xFFF);                     // 6
            a.cmp(edx, ebx);                       // 7
            a.je(skip);                            // 8
            a.inc(ebp);                            // 9 (usually taken path falls through here)
            a.Label(ref skip);
            a.call(func);                          // 10, + 2 in func
            a.dec(ecx);                            // 13
            a.jnz(top);                            // 14
            a.hlt();
            a.Label(ref func);
            a.lea(edi, __[edi + edx * 2 + 1]);     // 11
            a.ret();                               // 12
            perIteration = 14;
        });
        InstructionsPerIteration = perIteration;
        Cpu.Reset();
        Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        Cpu.Eip = 0x1000;
    }

    private void WriteU32(uint address, uint value) => Memory.Write(address, BitConverter.GetBytes(value));

    private void Load(int bitness, uint address, Action<Assembler> build)
    {
        var a = new Assembler(bitness);
        build(a);
        var w = new BufferWriter();
        a.Assemble(w, address);
        Memory.Write(address, w.Bytes.ToArray());
    }

    private sealed class BufferWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
