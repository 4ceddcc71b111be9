using System.Buffers.Binary;
using System.Text;
using Iced.Intel;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Tests.Boot;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Machine.Tests;

/// <summary>
/// A boot sector that SeaBIOS loads from a floppy switches to flat 32-bit protected mode, masks the 8259s, programs
/// the local APIC timer (periodic, divide by 1, 1,000,000 counts = 1 ms at the 1 GHz timer clock) and counts its
/// interrupts (handler: increment, EOI, IRETD) with HLT between them until 100 have arrived; it brackets the wait
/// with RDTSC (virtual nanoseconds). Issue 15: the xAPIC timer runs on the virtual clock.
/// </summary>
public sealed class ApicTimerBootSectorTests : IDisposable
{
    private const uint Counter = 0x600, TscStart = 0x610, TscEnd = 0x618, Handler = 0x7D80;
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-apic").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Assemble(int bitness, ulong address, Action<Assembler> build)
    {
        var a = new Assembler(bitness);
        build(a);
        var w = new BytesWriter();
        a.Assemble(w, address);
        return w.Bytes.ToArray();
    }

    private static byte[] BootSector()
    {
        var sector = new byte[512];
        // Real mode at 0x7C00: a flat GDT at 0x800 (null, code 0x08, data 0x10), GDTR at 0x8F0, then PE and a far jump.
        byte[] real = Assemble(16, 0x7C00, a =>
        {
            a.cli();
            a.xor(ax, ax);
            a.mov(ds, ax);
            a.mov(__dword_ptr[0x800], 0);
            a.mov(__dword_ptr[0x804], 0);
            a.mov(__dword_ptr[0x808], 0x0000FFFF);
            a.mov(__dword_ptr[0x80C], 0x00CF9A00);
            a.mov(__dword_ptr[0x810], 0x0000FFFF);
            a.mov(__dword_ptr[0x814], 0x00CF9200);
            a.mov(__word_ptr[0x8F0], 0x17);
            a.mov(__dword_ptr[0x8F2], 0x800);
            a.lgdt(__[0x8F0]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(0x08, 0x7C80);
        });
        Assert.True(real.Length <= 0x80);
        real.CopyTo(sector, 0);
        byte[] flat = Assemble(32, 0x7C80, a =>
        {
            var wait = a.CreateLabel();
            a.mov(ax, 0x10);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(esp, 0x7000);
            // IDT at 0x1000 with one interrupt gate, vector 0x40 -> Handler; IDTR at 0x8F8.
            a.mov(__dword_ptr[0x1000 + 0x40 * 8], (int)(0x0008_0000 | (Handler & 0xFFFF)));
            a.mov(__dword_ptr[0x1000 + 0x40 * 8 + 4], (int)((Handler & 0xFFFF_0000) | 0x8E00));
            a.mov(__word_ptr[0x8F8], 0x41 * 8 - 1);
            a.mov(__dword_ptr[0x8FA], 0x1000);
            a.lidt(__[0x8F8]);
            // Nothing from the 8259s: mask both, and LINT0.
            a.mov(al, 0xFF);
            a.@out(0x21, al);
            a.@out(0xA1, al);
            a.mov(__dword_ptr[Counter], 0);
            a.mov(__dword_ptr[0xFEE000F0], 0x1FF);                 // SVR: enable, spurious 0xFF
            a.mov(__dword_ptr[0xFEE00350], 0x10700);               // LINT0 masked
            a.mov(__dword_ptr[0xFEE003E0], 0xB);                   // divide by 1
            a.mov(__dword_ptr[0xFEE00320], 0x20040);               // periodic, vector 0x40
            a.mov(__dword_ptr[0xFEE00380], 1_000_000);             // 1 ms
            a.rdtsc();
            a.mov(__[TscStart], eax);
            a.mov(__[TscStart + 4], edx);
            a.sti();
            a.Label(ref wait);
            a.hlt();
            a.cmp(__dword_ptr[Counter], 100);
            a.jb(wait);
            a.cli();
            a.rdtsc();
            a.mov(__[TscEnd], eax);
            a.mov(__[TscEnd + 4], edx);
            a.hlt();
        });
        Assert.True(flat.Length <= Handler - 0x7C80);
        flat.CopyTo(sector, 0x80);
        byte[] handler = Assemble(32, Handler, a =>
        {
            a.inc(__dword_ptr[Counter]);
            a.mov(__dword_ptr[0xFEE000B0], 0);                     // EOI
            a.iretd();
        });
        handler.CopyTo(sector, (int)(Handler - 0x7C00));
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    [Fact]
    public void A_periodic_lapic_timer_of_1ms_interrupts_100_times_in_100ms_of_virtual_time()
    {
        string floppy = Path.Combine(_dir, "apic-timer.img");
        var options = MiniVmProcess.FloppyBootOptions(floppy, BootSector());
        var debug = new StringBuilder();
        using var machine = new PcMachine(options, new MachineOutputs { Serial = _ => { }, DebugLog = b => debug.Append((char)b) });
        var cpu = machine.Cpu;
        for (int slice = 0; slice < 20_000 && !(cpu.Halted && (cpu.Eflags & 0x200) == 0); slice++) machine.RunSlice(100_000);
        Assert.True(cpu.Halted && (cpu.Eflags & 0x200) == 0, $"the boot sector did not finish (EIP={cpu.Eip:X8})");

        var bytes = new byte[0x20];
        machine.Memory.Read(Counter, bytes);
        Assert.Equal(100u, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
        long elapsed = (long)(BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x18)) - BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x10)));
        // The 100th interrupt comes 100 ms after the initial count was written; RDTSC brackets it within a few instructions.
        Assert.InRange(elapsed, 100_000_000 - 1_000, 100_000_000 + 1_000);
        // SeaBIOS saw the APIC: it counted the processor for the MP table (no "No apic" fallback).
        Assert.Contains("Found 1 cpu(s)", debug.ToString());
        Assert.DoesNotContain("No apic", debug.ToString());
    }

    private sealed class BytesWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
