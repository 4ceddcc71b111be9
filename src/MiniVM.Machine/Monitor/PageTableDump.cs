using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using MiniVM.Cpu;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// `info mem` and `info tlb`: the guest's 32-bit page tables walked from CR3, printed as QEMU's target/i386/monitor.c
/// does for a CPU without PAE (mem_info_32, tlb_info_32). Reads only RAM, sets no accessed or dirty bit.
/// </summary>
public static class PageTableDump
{
    private const uint Present = 1, Writable = 2, User = 4, WriteThrough = 8, CacheDisable = 0x10, Accessed = 0x20,
        Dirty = 0x40, LargePage = 0x80, Global = 0x100;
    private const uint Cr0Paging = 0x8000_0000, Cr4Pse = 0x10;

    /// <summary>Runs of virtual addresses with the same access rights: start-end size, then u/- r w/-.</summary>
    public static string Mappings(X86Cpu cpu, PhysicalMemory memory)
    {
        if ((cpu.Cr0 & Cr0Paging) == 0) return "PG disabled";
        var sb = new StringBuilder();
        long start = -1;
        uint lastProt = 0;
        void Print(long end, uint prot)
        {
            if (prot == lastProt) return;
            if (start != -1)
                sb.Append(CultureInfo.InvariantCulture,
                    $"{start:x16}-{end:x16} {end - start:x16} {((lastProt & User) != 0 ? 'u' : '-')}r{((lastProt & Writable) != 0 ? 'w' : '-')}\n");
            start = prot != 0 ? end : -1;
            lastProt = prot;
        }
        uint directory = cpu.Cr3 & ~0xFFFu;
        for (uint l1 = 0; l1 < 1024; l1++)
        {
            uint pde = Read32(memory, directory + l1 * 4);
            long end = (long)l1 << 22;
            if ((pde & Present) == 0) { Print(end, 0); continue; }
            if ((pde & LargePage) != 0 && (cpu.Cr4 & Cr4Pse) != 0) { Print(end, pde & (User | Writable | Present)); continue; }
            for (uint l2 = 0; l2 < 1024; l2++)
            {
                uint pte = Read32(memory, (pde & ~0xFFFu) + l2 * 4);
                Print(((long)l1 << 22) + ((long)l2 << 12), (pte & Present) != 0 ? pte & pde & (User | Writable | Present) : 0);
            }
        }
        Print(1L << 32, 0);
        return sb.ToString().TrimEnd('\n');
    }

    /// <summary>Every present page (and 4 MiB page): virtual address, frame, then the X G P D A C T U W bits.</summary>
    public static string Entries(X86Cpu cpu, PhysicalMemory memory)
    {
        if ((cpu.Cr0 & Cr0Paging) == 0) return "PG disabled";
        var sb = new StringBuilder();
        void Print(uint address, uint entry, uint mask) =>
            sb.Append(CultureInfo.InvariantCulture, $"{address:x16}: {entry & mask:x16} -")
              .Append(Bit(entry, Global, 'G')).Append(Bit(entry, LargePage, 'P')).Append(Bit(entry, Dirty, 'D'))
              .Append(Bit(entry, Accessed, 'A')).Append(Bit(entry, CacheDisable, 'C')).Append(Bit(entry, WriteThrough, 'T'))
              .Append(Bit(entry, User, 'U')).Append(Bit(entry, Writable, 'W')).Append('\n');
        uint directory = cpu.Cr3 & ~0xFFFu;
        for (uint l1 = 0; l1 < 1024; l1++)
        {
            uint pde = Read32(memory, directory + l1 * 4);
            if ((pde & Present) == 0) continue;
            // QEMU masks a 4 MiB page's frame with ~(2 MiB - 1); kept so the two dumps compare equal.
            if ((pde & LargePage) != 0 && (cpu.Cr4 & Cr4Pse) != 0) { Print(l1 << 22, pde, ~((1u << 21) - 1)); continue; }
            for (uint l2 = 0; l2 < 1024; l2++)
            {
                uint pte = Read32(memory, (pde & ~0xFFFu) + l2 * 4);
                if ((pte & Present) != 0) Print((l1 << 22) + (l2 << 12), pte & ~LargePage, ~0xFFFu);
            }
        }
        return sb.ToString().TrimEnd('\n');
    }

    private static char Bit(uint entry, uint bit, char name) => (entry & bit) != 0 ? name : '-';

    /// <summary>A page-table entry; one outside RAM reads as not present (all ones would claim every bit).</summary>
    private static uint Read32(PhysicalMemory memory, uint address)
    {
        if (!memory.IsMemoryBacked(address)) return 0;
        Span<byte> b = stackalloc byte[4];
        memory.Read(address, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }
}
