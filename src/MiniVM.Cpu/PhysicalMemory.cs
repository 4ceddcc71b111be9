namespace MiniVM.Cpu;

/// <summary>
/// Guest physical address space (32-bit): the RAM array plus a per-4-KiB-page map saying where reads and writes
/// of each page go. The CPU's fast path reads the map's arrays directly; devices use <see cref="Read"/> and
/// <see cref="Write"/> (DMA), which also keep decoded code coherent.
/// Default map: [0, RAM size) is RAM, everything else is I/O (the bus answers or returns all-ones).
/// </summary>
public sealed class PhysicalMemory
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    /// <summary>Pages in the 4 GiB physical space of a P6 without PAE.</summary>
    public const int PageCount = 1 << 20;
    public const long MaxRamSize = 1L << 31;

    internal readonly byte[]?[] ReadArray = new byte[]?[PageCount];
    internal readonly int[] ReadBase = new int[PageCount];
    internal readonly PageSourceKind[] ReadKind = new PageSourceKind[PageCount];
    internal readonly byte[]?[] WriteArray = new byte[]?[PageCount];
    internal readonly int[] WriteBase = new int[PageCount];
    internal readonly PageSourceKind[] WriteKind = new PageSourceKind[PageCount];
    internal readonly DecodeCache Code = new();

    public PhysicalMemory(long ramSize)
    {
        if (ramSize <= 0 || ramSize > MaxRamSize || ramSize % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(ramSize), ramSize, $"RAM size must be a multiple of 4 KiB between 4 KiB and {MaxRamSize} bytes");
        // Pinned: the CPU's TLB and translated blocks address it by host pointer (TlbEntry).
        Ram = GC.AllocateArray<byte>(checked((int)ramSize), pinned: true);
        unsafe { RamPointer = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Ram)); }
        _ramWrites = new ulong[(ramSize / PageSize + 63) / 64];
        Map(0, (ulong)PageCount * PageSize, PageSource.Io, PageSource.Io);
        Map(0, (ulong)ramSize, PageSource.Ram(0), PageSource.Ram(0));
    }

    /// <summary>
    /// Guest RAM. Writes from the CPU and DMA are logged per page (<see cref="DrainRamWriteLog"/>); code that writes
    /// this array directly (tests, a state load) must say so with <see cref="LogRamWrites"/>.
    /// </summary>
    public byte[] Ram { get; }

    /// <summary>Host address of <see cref="Ram"/>'s first byte (the array is pinned for the memory's lifetime).</summary>
    internal unsafe byte* RamPointer { get; }
    public long RamSize => Ram.LongLength;

    /// <summary>Where MMIO accesses go; the CPU sets it when constructed with this memory.</summary>
    public ICpuBus? Bus { get; set; }

    /// <summary>Bumped by every re-mapping and RAM write-log drain; the CPU flushes its TLB when it changes.</summary>
    public int MapGeneration { get; private set; }

    /// <summary>Plain RAM at the same physical address (undoing a ROM or I/O mapping).</summary>
    public void MapRam(ulong address, ulong length) => Map(address, length, PageSource.Ram((long)address), PageSource.Ram((long)address));

    /// <summary>Read-only image (BIOS, option ROM): reads from <paramref name="image"/>, writes dropped.</summary>
    public void MapRom(ulong address, ulong length, byte[] image, long imageOffset = 0) =>
        Map(address, length, PageSource.FromArray(image, imageOffset), PageSource.Ignore);

    /// <summary>Every access goes to the bus (VGA window, PCI BARs).</summary>
    public void MapIo(ulong address, ulong length) => Map(address, length, PageSource.Io, PageSource.Io);

    /// <summary>
    /// General mapping with independent read and write sides, as the i440FX PAM registers need
    /// (e.g. read ROM, write RAM while SeaBIOS copies itself into shadow RAM).
    /// </summary>
    public void Map(ulong address, ulong length, PageSource read, PageSource write)
    {
        if (address % PageSize != 0 || length % PageSize != 0)
            throw new ArgumentException($"mapping 0x{address:X}+0x{length:X} is not 4 KiB aligned");
        if (length == 0) return;
        if (address + length > (ulong)PageCount * PageSize || address + length < address)
            throw new ArgumentOutOfRangeException(nameof(length), $"mapping 0x{address:X}+0x{length:X} exceeds the 4 GiB physical space");
        Validate(read, length, "read");
        Validate(write, length, "write");
        int first = (int)(address >> PageShift);
        int count = (int)(length >> PageShift);
        for (int i = 0; i < count; i++)
        {
            int page = first + i;
            Assign(page, i, read, ReadArray, ReadBase, ReadKind);
            Assign(page, i, write, WriteArray, WriteBase, WriteKind);
            Code.Invalidate((uint)page);
        }
        MapGeneration++;
    }

    private void Validate(PageSource s, ulong length, string side)
    {
        switch (s.Kind)
        {
            case PageSourceKind.Ram:
                if (s.Offset < 0 || s.Offset % PageSize != 0 || (ulong)s.Offset + length > (ulong)Ram.LongLength)
                    throw new ArgumentOutOfRangeException(nameof(s), $"{side} side: RAM offset 0x{s.Offset:X}+0x{length:X} is outside the {Ram.LongLength}-byte RAM");
                break;
            case PageSourceKind.Array:
                if (s.Array is null || s.Offset < 0 || (ulong)s.Offset + length > (ulong)s.Array.LongLength)
                    throw new ArgumentOutOfRangeException(nameof(s), $"{side} side: array offset 0x{s.Offset:X}+0x{length:X} is outside the {s.Array?.LongLength ?? 0}-byte array");
                break;
        }
    }

    private void Assign(int page, int index, PageSource s, byte[]?[] arrays, int[] bases, PageSourceKind[] kinds)
    {
        kinds[page] = s.Kind;
        switch (s.Kind)
        {
            case PageSourceKind.Ram:
                arrays[page] = Ram;
                bases[page] = checked((int)(s.Offset + (long)index * PageSize));
                break;
            case PageSourceKind.Array:
                arrays[page] = s.Array;
                bases[page] = checked((int)(s.Offset + (long)index * PageSize));
                break;
            default:
                arrays[page] = null;
                bases[page] = 0;
                break;
        }
    }

    /// <summary>
    /// One bit per 4 KiB page of <see cref="Ram"/>: written since the last <see cref="DrainRamWriteLog"/> (QEMU's
    /// dirty log). The CPU logs a page on every write that misses its write TLB, and a write TLB entry is only made
    /// by such a write; the drain bumps <see cref="MapGeneration"/>, so the CPU drops those entries before it runs
    /// again and the next write to each page is logged anew. DMA (<see cref="Write"/>) logs every write.
    /// </summary>
    private readonly ulong[] _ramWrites;

    /// <summary>Logs a write to physical page <paramref name="page"/> if its write side is RAM.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void LogWrite(int page)
    {
        if (WriteKind[page] != PageSourceKind.Ram) return;
        int r = WriteBase[page] >> PageShift;
        _ramWrites[r >> 6] |= 1UL << r;
    }

    /// <summary>Logs RAM bytes [offset, offset+length) as written, for code that wrote <see cref="Ram"/> directly.</summary>
    public void LogRamWrites(long offset, long length)
    {
        if (length <= 0) return;
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, Ram.LongLength);
        for (long p = offset >> PageShift; p <= (offset + length - 1) >> PageShift; p++) _ramWrites[p >> 6] |= 1UL << (int)p;
    }

    /// <summary>ORs the RAM pages written since the last drain into <paramref name="into"/> (bit p = page p) and starts a new log.</summary>
    public void DrainRamWriteLog(Span<ulong> into)
    {
        if (into.Length < _ramWrites.Length) throw new ArgumentException($"needs {_ramWrites.Length} words", nameof(into));
        for (int i = 0; i < _ramWrites.Length; i++) into[i] |= _ramWrites[i];
        Array.Clear(_ramWrites);
        MapGeneration++;
    }

    /// <summary>Words of 64 pages in a RAM page bitmap (<see cref="DrainRamWriteLog"/>).</summary>
    public int RamPageWords => _ramWrites.Length;

    /// <summary>
    /// Whether reads of the page holding <paramref name="address"/> come from RAM or a ROM image rather than the bus,
    /// i.e. can be read by a debugger without a device seeing an access.
    /// </summary>
    public bool IsMemoryBacked(ulong address) => address < (ulong)PageCount * PageSize && ReadArray[(int)(address >> PageShift)] is not null;

    /// <summary>DMA / debugger read of physical memory, following the read side of the map.</summary>
    public void Read(ulong address, Span<byte> destination)
    {
        while (destination.Length > 0)
        {
            if (address >= (ulong)PageCount * PageSize) { destination.Fill(0xFF); return; }
            int page = (int)(address >> PageShift);
            int offset = (int)(address & (PageSize - 1));
            int n = Math.Min(destination.Length, PageSize - offset);
            byte[]? a = ReadArray[page];
            if (a is not null) a.AsSpan(ReadBase[page] + offset, n).CopyTo(destination);
            else if (ReadKind[page] == PageSourceKind.Io && Bus is { } bus)
                for (int i = 0; i < n; i++) destination[i] = (byte)bus.ReadMmio(address + (ulong)i, 1);
            else destination[..n].Fill(0xFF);
            destination = destination[n..];
            address += (ulong)n;
        }
    }

    /// <summary>DMA write to physical memory, following the write side of the map; invalidates decoded code it overwrites.</summary>
    public void Write(ulong address, ReadOnlySpan<byte> source)
    {
        while (source.Length > 0)
        {
            if (address >= (ulong)PageCount * PageSize) return;
            int page = (int)(address >> PageShift);
            int offset = (int)(address & (PageSize - 1));
            int n = Math.Min(source.Length, PageSize - offset);
            byte[]? a = WriteArray[page];
            if (a is not null)
            {
                source[..n].CopyTo(a.AsSpan(WriteBase[page] + offset, n));
                LogWrite(page);
                Code.NotifyWrite((uint)page, offset, n);
            }
            else if (WriteKind[page] == PageSourceKind.Io && Bus is { } bus)
                for (int i = 0; i < n; i++) bus.WriteMmio(address + (ulong)i, 1, source[i]);
            source = source[n..];
            address += (ulong)n;
        }
    }
}
