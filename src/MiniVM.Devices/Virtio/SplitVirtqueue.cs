using System.Buffers.Binary;

namespace MiniVM.Devices.Virtio;

/// <summary>
/// A split virtqueue (VIRTIO 1.1 §2.6): the three ring addresses the driver programmed, the device's position in the
/// available ring and its used index. Everything read from guest memory is checked against the RAM size before use:
/// a chain becomes a span of validated <see cref="GuestBuffer"/>s or a <see cref="ChainFault"/>.
/// </summary>
public sealed class SplitVirtqueue(IGuestMemory memory, ushort maxSize)
{
    private const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
    private const int DescriptorBytes = 16;

    public ushort MaxSize { get; } = maxSize;
    /// <summary>Entries in each ring; a power of two up to <see cref="MaxSize"/> (§2.6).</summary>
    public ushort Size { get; set; } = maxSize;
    public bool Enabled { get; set; }
    public ulong DescriptorTable { get; set; }
    public ulong AvailRing { get; set; }
    public ulong UsedRing { get; set; }
    /// <summary>The next available-ring slot the device will consume (free-running, wraps at 65536).</summary>
    public ushort LastAvailIndex { get; set; }
    public ushort UsedIndex { get; set; }

    public void Reset()
    {
        Size = MaxSize;
        Enabled = false;
        DescriptorTable = AvailRing = UsedRing = 0;
        LastAvailIndex = UsedIndex = 0;
    }

    /// <summary>Legacy layout from one page frame number (§2.6.2 legacy interfaces, alignment 4096).</summary>
    public void SetLegacyLayout(uint pfn)
    {
        DescriptorTable = (ulong)pfn << 12;
        AvailRing = DescriptorTable + (ulong)DescriptorBytes * Size;
        UsedRing = (AvailRing + 6u + 2u * Size + 4095) & ~4095UL;
        Enabled = pfn != 0;
    }

    public static bool InsideRam(ulong address, ulong length, long ramSize) =>
        address <= (ulong)ramSize && length <= (ulong)ramSize - address;

    /// <summary>The three rings lie inside RAM with their required alignment (§2.6 table "Virtqueue Part Alignment").</summary>
    public bool LayoutIsValid()
    {
        long ram = memory.RamSize;
        return Size != 0 && (Size & (Size - 1)) == 0 && Size <= MaxSize
            && DescriptorTable % 16 == 0 && AvailRing % 2 == 0 && UsedRing % 4 == 0
            && InsideRam(DescriptorTable, (ulong)DescriptorBytes * Size, ram)
            && InsideRam(AvailRing, 6u + 2u * (ulong)Size, ram)
            && InsideRam(UsedRing, 6u + 8u * (ulong)Size, ram);
    }

    private ushort ReadU16(ulong address)
    {
        Span<byte> b = stackalloc byte[2];
        memory.ReadPhysical(address, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    private void WriteU16(ulong address, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        memory.WritePhysical(address, b);
    }

    /// <summary>The driver asked not to be interrupted (VRING_AVAIL_F_NO_INTERRUPT, §2.6.7).</summary>
    public bool InterruptSuppressed => (ReadU16(AvailRing) & 1) != 0;

    /// <summary>How many heads the driver has made available and the device has not consumed yet.</summary>
    public int Pending => (ushort)(ReadU16(AvailRing + 2) - LastAvailIndex);

    /// <summary>Takes the next available head index (call only when <see cref="Pending"/> is positive).</summary>
    public ushort PopHead()
    {
        ushort head = ReadU16(AvailRing + 4 + 2u * (ulong)(LastAvailIndex % Size));
        LastAvailIndex++;
        return head;
    }

    /// <summary>
    /// Walks the chain from <paramref name="head"/> into <paramref name="buffers"/> (at most <see cref="Size"/> of them).
    /// Loops are caught by counting: a chain visiting more descriptors than its table holds must repeat one.
    /// </summary>
    public ChainFault WalkChain(ushort head, bool indirectAllowed, Span<GuestBuffer> buffers, out int count)
    {
        count = 0;
        long ram = memory.RamSize;
        ulong table = DescriptorTable;
        uint tableEntries = Size;
        uint index = head;
        int visited = 0;
        bool inIndirect = false, sawWritable = false;
        Span<byte> d = stackalloc byte[DescriptorBytes];
        while (true)
        {
            if (index >= tableEntries) return ChainFault.IndexOutOfRange;
            if (++visited > tableEntries) return ChainFault.TooLong;
            memory.ReadPhysical(table + (ulong)index * DescriptorBytes, d);
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            if ((flags & DescIndirect) != 0)
            {
                if (!indirectAllowed || inIndirect || (flags & DescNext) != 0) return ChainFault.BadIndirect;
                if (len == 0 || len % DescriptorBytes != 0 || len / DescriptorBytes > Size) return ChainFault.BadIndirect;
                if (addr % 16 != 0 || !InsideRam(addr, len, ram)) return ChainFault.OutsideRam;
                table = addr;
                tableEntries = len / DescriptorBytes;
                index = 0;
                visited = 0;
                inIndirect = true;
                continue;
            }
            if (!InsideRam(addr, len, ram)) return ChainFault.OutsideRam;
            bool writable = (flags & DescWrite) != 0;
            if (!writable && sawWritable) return ChainFault.ReadableAfterWritable;
            sawWritable |= writable;
            if (count >= Size || count >= buffers.Length) return ChainFault.TooLong;
            buffers[count++] = new GuestBuffer(addr, len, writable);
            if ((flags & DescNext) == 0) return ChainFault.None;
            index = next;
        }
    }

    /// <summary>Publishes one used element and then the new used index, in that order (§2.6.8.2).</summary>
    public void PushUsed(ushort head, uint writtenLength)
    {
        Span<byte> e = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(e, head);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], writtenLength);
        memory.WritePhysical(UsedRing + 4 + 8u * (ulong)(UsedIndex % Size), e);
        UsedIndex++;
        WriteU16(UsedRing + 2, UsedIndex);
    }

    public void SaveState(StateWriter w)
    {
        w.Write(Size); w.Write(Enabled); w.Write(DescriptorTable); w.Write(AvailRing); w.Write(UsedRing);
        w.Write(LastAvailIndex); w.Write(UsedIndex);
    }

    /// <summary>Reads a saved queue and returns the action that applies it, so a bad section changes nothing.</summary>
    public Action ReadState(StateReader r)
    {
        ushort size = r.ReadUInt16();
        if (size == 0 || size > MaxSize || (size & (size - 1)) != 0)
            throw new StateFormatException($"section {r.SectionId}: queue size {size} is not a power of two up to {MaxSize}");
        bool enabled = r.ReadBool();
        ulong desc = r.ReadUInt64(), avail = r.ReadUInt64(), used = r.ReadUInt64();
        ushort last = r.ReadUInt16(), usedIdx = r.ReadUInt16();
        return () =>
        {
            Size = size; Enabled = enabled; DescriptorTable = desc; AvailRing = avail; UsedRing = used;
            LastAvailIndex = last; UsedIndex = usedIdx;
        };
    }
}
