namespace MiniVM.Cpu;

/// <summary>Where reads (or writes) of one physical page go.</summary>
public enum PageSourceKind : byte
{
    /// <summary>Guest RAM at an offset of <see cref="PhysicalMemory.Ram"/>.</summary>
    Ram,
    /// <summary>A caller-owned array (a ROM image): reads come from it; as a write target, writes land in it.</summary>
    Array,
    /// <summary>Every access goes to <see cref="ICpuBus.ReadMmio"/>/<see cref="ICpuBus.WriteMmio"/>.</summary>
    Io,
    /// <summary>Writes are dropped (write-protected shadow, ROM); reads of an ignored page return 0xFF.</summary>
    Ignore,
}

/// <summary>One side (read or write) of a physical page mapping.</summary>
public readonly record struct PageSource(PageSourceKind Kind, byte[]? Array, long Offset)
{
    /// <summary>Guest RAM starting at <paramref name="ramOffset"/> (identity mapping passes the physical address).</summary>
    public static PageSource Ram(long ramOffset) => new(PageSourceKind.Ram, null, ramOffset);
    public static PageSource FromArray(byte[] array, long offset) => new(PageSourceKind.Array, array, offset);
    public static readonly PageSource Io = new(PageSourceKind.Io, null, 0);
    public static readonly PageSource Ignore = new(PageSourceKind.Ignore, null, 0);
}
