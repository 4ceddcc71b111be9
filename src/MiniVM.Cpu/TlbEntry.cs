using System.Runtime.InteropServices;

namespace MiniVM.Cpu;

/// <summary>
/// One entry of the CPU's direct-mapped TLB (X86Cpu.Mmu.cs): the linear page it maps and where that page's bytes lie
/// in host memory. The host address of linear address <c>lin</c> is <c>Host + lin</c> (QEMU's "addend": the host
/// address of the page's first byte minus the page's linear address), so a hit costs a compare and one load.
/// <para>
/// The hit rule, for an access of <c>size</c> bytes at <c>lin</c>, is the same in the interpreter and in the IL of
/// translated blocks (BlockTranslator.Memory.cs): the entry at index <c>(lin &gt;&gt; 12) &amp; 511</c> of the current
/// privilege's region has <c>Page == (lin + size - 1) &gt;&gt; 12</c>. That one compare also rejects an access that
/// crosses into the next page (its last byte's page has other index bits) or wraps past 4 GiB; an empty entry holds
/// <see cref="Empty"/>, which no page number equals.
/// </para>
/// The layout is fixed (16 bytes, <see cref="Host"/> at offset 8) because translated blocks read it with raw loads.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal struct TlbEntry
{
    public const int Size = 16;
    public const int HostOffset = 8;
    public const uint Empty = uint.MaxValue;

    /// <summary>Linear page number (address &gt;&gt; 12), or <see cref="Empty"/>.</summary>
    [FieldOffset(0)] public uint Page;

    /// <summary>Host address of the page's first byte minus the page's linear address (wrapping).</summary>
    [FieldOffset(HostOffset)] public nuint Host;
}
