namespace MiniVM.Cpu;

/// <summary>The visible selector and hidden descriptor cache of one segment register (SDM vol. 3 §3.4.3).</summary>
public struct SegmentCache
{
    public ushort Selector;
    public uint Base;
    /// <summary>Limit in bytes (already scaled by the G bit).</summary>
    public uint Limit;
    /// <summary>Descriptor bits 40..55 of the descriptor: type(4) S DPL(2) P | limit19..16(4) AVL L D/B G.</summary>
    public ushort Attributes;

    public readonly int Type => Attributes & 0xF;
    public readonly bool IsSystem => (Attributes & 0x10) == 0;
    public readonly int Dpl => (Attributes >> 5) & 3;
    public readonly bool Present => (Attributes & 0x80) != 0;
    /// <summary>D/B bit: 32-bit code segment, or 32-bit stack (ESP) for SS.</summary>
    public readonly bool Big => (Attributes & 0x4000) != 0;
    public readonly bool IsCode => (Attributes & 0x18) == 0x18;
    public readonly bool IsExpandDown => (Attributes & 0x1C) == 0x14;
}
