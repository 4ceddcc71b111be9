using System.Buffers.Binary;
using MiniVM.Block;

namespace MiniVM.Devices.Virtio;

/// <summary>
/// The virtio block device behind either PCI transport (VIRTIO 1.1 §5.2): feature negotiation, device status,
/// the interrupt status (ISR), one split request queue and the device configuration. A notification processes the
/// queue synchronously: each request is walked, parsed and validated, then executed against the disk, and its used
/// element published before the next is looked at. A chain that leaves nowhere to report an error stops the queue
/// and sets DEVICE_NEEDS_RESET (§2.1.2); every other bad request completes with VIRTIO_BLK_S_IOERR or _UNSUPP.
/// </summary>
public sealed class VirtioBlk
{
    public const int SectorSize = 512;
    public const ushort QueueSize = 128; // SeaBIOS refuses larger legacy queues (MAX_QUEUE_NUM)
    /// <summary>Bytes of struct virtio_blk_config up to and including write_zeroes_may_unmap and its padding (§5.2.4).</summary>
    public const int ConfigSize = 60;
    private const int ChunkBytes = 64 * 1024;
    private const int SerialBytes = VirtioBlkRequest.IdBytes;

    private readonly IBlockDriver _disk;
    private readonly IGuestMemory _memory;
    private readonly byte[] _config = new byte[ConfigSize];
    private readonly byte[] _serial = new byte[SerialBytes];
    private readonly byte[] _chunk = new byte[ChunkBytes];
    private readonly GuestBuffer[] _chain = new GuestBuffer[QueueSize];
    private readonly bool _modern;
    private readonly long _capacitySectors;

    public VirtioBlk(IBlockDriver disk, IGuestMemory memory, bool modern, string serial)
    {
        _disk = disk;
        _memory = memory;
        _modern = modern;
        _capacitySectors = disk.Size / SectorSize;
        Queue = new SplitVirtqueue(memory, QueueSize);
        System.Text.Encoding.ASCII.GetBytes(serial.AsSpan(0, Math.Min(serial.Length, SerialBytes)), _serial);

        DeviceFeatures = VirtioBlkFeatures.Bit(VirtioBlkFeatures.SegMax) | VirtioBlkFeatures.Bit(VirtioBlkFeatures.Geometry)
            | VirtioBlkFeatures.Bit(VirtioBlkFeatures.BlkSize) | VirtioBlkFeatures.Bit(VirtioBlkFeatures.Flush)
            | VirtioBlkFeatures.Bit(VirtioBlkFeatures.Discard) | VirtioBlkFeatures.Bit(VirtioBlkFeatures.WriteZeroes)
            | VirtioBlkFeatures.Bit(VirtioBlkFeatures.IndirectDesc)
            | (disk.IsReadOnly ? VirtioBlkFeatures.Bit(VirtioBlkFeatures.ReadOnly) : 0)
            | (modern ? VirtioBlkFeatures.Bit(VirtioBlkFeatures.Version1) : 0);

        // struct virtio_blk_config (§5.2.4), little-endian; geometry as QEMU guesses for an unpartitioned disk.
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(c, (ulong)_capacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], QueueSize - 2u);                 // seg_max
        BinaryPrimitives.WriteUInt16LittleEndian(c[16..], (ushort)Math.Clamp(_capacitySectors / (16 * 63), 1, 65535));
        c[18] = 16;                                                                        // heads
        c[19] = 63;                                                                        // sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], SectorSize);                     // blk_size
        BinaryPrimitives.WriteUInt16LittleEndian(c[34..], 1);                              // num_queues
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], VirtioBlkLimits.MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], 1);                              // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], 1);                              // discard_sector_alignment
        BinaryPrimitives.WriteUInt32LittleEndian(c[48..], VirtioBlkLimits.MaxWriteZeroesSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[52..], 1);                              // max_write_zeroes_seg
    }

    public SplitVirtqueue Queue { get; }
    public ulong DeviceFeatures { get; }
    public ulong DriverFeatures { get; private set; }
    public byte Status { get; private set; }
    public byte Isr { get; private set; }
    public long CapacitySectors => _capacitySectors;
    /// <summary>Set once a chain could not be walked; the queue stays stopped until the driver resets the device.</summary>
    public bool Broken { get; private set; }

    /// <summary>Called whenever <see cref="Isr"/> changes, so the transport can drive its INTx line.</summary>
    public Action? InterruptChanged { get; set; }

    /// <summary>Device reset: writing 0 to the status (§2.1, §4.1.4.3.2) or a machine reset.</summary>
    public void Reset()
    {
        Status = 0;
        DriverFeatures = 0;
        Broken = false;
        Queue.Reset();
        SetIsr(0);
    }

    public void WriteStatus(byte value)
    {
        if (value == 0) { Reset(); return; }
        // FEATURES_OK is only kept when the device accepts the subset (§2.2.2, §3.1.1); NEEDS_RESET stays the device's.
        if (_modern && (value & VirtioStatus.FeaturesOk) != 0 && (Status & VirtioStatus.FeaturesOk) == 0 && !FeaturesAcceptable())
            value &= unchecked((byte)~VirtioStatus.FeaturesOk);
        Status = (byte)((value & ~VirtioStatus.DeviceNeedsReset) | (Status & VirtioStatus.DeviceNeedsReset));
    }

    private bool FeaturesAcceptable() =>
        (DriverFeatures & ~DeviceFeatures) == 0 && (DriverFeatures & VirtioBlkFeatures.Bit(VirtioBlkFeatures.Version1)) != 0;

    /// <summary>The driver's feature word <paramref name="select"/> (0 = bits 0-31, 1 = 32-63); frozen after FEATURES_OK.</summary>
    public void WriteDriverFeatures(int select, uint value)
    {
        if ((Status & VirtioStatus.FeaturesOk) != 0 || select is not (0 or 1)) return;
        int shift = select * 32;
        ulong mask = 0xFFFF_FFFFUL << shift;
        ulong word = ((ulong)value << shift) & (_modern ? ulong.MaxValue : DeviceFeatures);
        DriverFeatures = (DriverFeatures & ~mask) | word;
    }

    public uint ReadDeviceFeatures(int select) => select switch { 0 => (uint)DeviceFeatures, 1 => (uint)(DeviceFeatures >> 32), _ => 0 };

    /// <summary>Reading the ISR returns and clears it, deasserting the interrupt (§4.1.4.5).</summary>
    public byte ReadAndClearIsr()
    {
        byte v = Isr;
        SetIsr(0);
        return v;
    }

    private void SetIsr(byte value)
    {
        if (value == Isr) return;
        Isr = value;
        InterruptChanged?.Invoke();
    }

    /// <summary>Device configuration read, little-endian, bytes beyond the structure read as zero.</summary>
    public uint ReadConfig(int offset, int size)
    {
        uint v = 0;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            if ((uint)o < ConfigSize) v |= (uint)_config[o] << (8 * i);
        }
        return v;
    }

    private bool Negotiated(int feature) => (DriverFeatures & VirtioBlkFeatures.Bit(feature)) != 0;

    /// <summary>A driver notification for queue <paramref name="queueIndex"/>: completes everything available.</summary>
    public void Notify(int queueIndex, bool busMaster)
    {
        if (queueIndex != 0 || Broken || !busMaster || !Queue.Enabled || (Status & VirtioStatus.Failed) != 0) return;
        if (!Queue.LayoutIsValid()) { NeedsReset(); return; }
        int pending = Queue.Pending;
        if (pending > Queue.Size) { NeedsReset(); return; } // the driver claims more heads than the ring holds
        bool completed = false;
        for (int n = 0; n < pending; n++)
        {
            ushort head = Queue.PopHead();
            if (head >= Queue.Size) { NeedsReset(); break; }
            var fault = Queue.WalkChain(head, Negotiated(VirtioBlkFeatures.IndirectDesc), _chain, out int count);
            ReadOnlySpan<GuestBuffer> chain = _chain.AsSpan(0, count);
            if (fault != ChainFault.None || !VirtioBlkRequest.TryParse(chain, _memory, Limits, out var request))
            {
                NeedsReset();
                break;
            }
            uint written = request.Rejection is { } rejected ? 0 : Execute(request, chain, out rejected);
            byte status = rejected;
            _memory.WritePhysical(request.StatusAddress, [status]);
            Queue.PushUsed(head, written + 1);
            completed = true;
        }
        if (completed && !Queue.InterruptSuppressed) SetIsr((byte)(Isr | 1));
    }

    private void NeedsReset()
    {
        Broken = true;
        if (!_modern) return; // legacy has no such status bit; the queue just stops
        Status |= VirtioStatus.DeviceNeedsReset;
        SetIsr((byte)(Isr | 2)); // configuration change interrupt (§4.1.4.5)
    }

    /// <summary>What the parser checks requests against: the disk and the features the driver accepted.</summary>
    private VirtioBlkLimits Limits => new(
        _capacitySectors, _disk.IsReadOnly,
        // A legacy driver has no way to refuse FLUSH, so it is always served there (§5.2.6.3 legacy interface).
        FlushSupported: !_modern || Negotiated(VirtioBlkFeatures.Flush),
        DiscardSupported: Negotiated(VirtioBlkFeatures.Discard),
        WriteZeroesSupported: Negotiated(VirtioBlkFeatures.WriteZeroes));

    /// <summary>
    /// Acts on a request the parser accepted; returns the bytes written into the guest's data buffers. Only the
    /// image itself can still fail here (an I/O error underneath), which the guest sees as VIRTIO_BLK_S_IOERR.
    /// </summary>
    private uint Execute(in VirtioBlkRequest r, ReadOnlySpan<GuestBuffer> chain, out byte status)
    {
        status = VirtioBlkStatus.IoErr;
        try
        {
            switch (r.Kind)
            {
                case VirtioBlkRequestKind.Read: Transfer(r, chain, toGuest: true); break;
                case VirtioBlkRequestKind.Write: Transfer(r, chain, toGuest: false); break;
                case VirtioBlkRequestKind.Flush: if (!_disk.IsReadOnly) _disk.Flush(); break;
                case VirtioBlkRequestKind.GetId: GuestScatter.Write(_memory, chain, 0, _serial.AsSpan(0, (int)r.Length)); break;
                case VirtioBlkRequestKind.Discard: _disk.Discard(r.Offset, r.Length); break;
                case VirtioBlkRequestKind.WriteZeroes: _disk.WriteZeroes(r.Offset, r.Length); break;
                default: status = VirtioBlkStatus.Unsupp; return 0;
            }
        }
        catch (Exception e) when (e is IOException or ImageFormatException)
        {
            return 0; // the image failed underneath: the guest sees an I/O error, as from a failing disk
        }
        status = VirtioBlkStatus.Ok;
        return r.Kind is VirtioBlkRequestKind.Read or VirtioBlkRequestKind.GetId ? (uint)r.Length : 0;
    }

    private void Transfer(in VirtioBlkRequest r, ReadOnlySpan<GuestBuffer> chain, bool toGuest)
    {
        for (long done = 0; done < r.Length;)
        {
            int n = (int)Math.Min(r.Length - done, ChunkBytes);
            var buf = _chunk.AsSpan(0, n);
            if (toGuest)
            {
                _disk.Read(r.Offset + done, buf);
                GuestScatter.Write(_memory, chain, (ulong)done, buf);
            }
            else
            {
                GuestScatter.Read(_memory, chain, writable: false, VirtioBlkRequest.HeaderBytes + (ulong)done, buf);
                _disk.Write(r.Offset + done, buf);
            }
            done += n;
        }
    }

    public void SaveState(StateWriter w)
    {
        w.Write(Status); w.Write(Isr); w.Write(DriverFeatures); w.Write(Broken);
        Queue.SaveState(w);
    }

    /// <summary>Reads the saved state and returns the action applying it (nothing changes if the section is bad).</summary>
    public Action ReadState(StateReader r)
    {
        byte status = r.ReadByte(), isr = r.ReadByte();
        ulong features = r.ReadUInt64();
        bool broken = r.ReadBool();
        if ((features & ~DeviceFeatures) != 0) throw new StateFormatException($"section {r.SectionId}: driver features 0x{features:X} exceed this device's 0x{DeviceFeatures:X}");
        if (isr > 3) throw new StateFormatException($"section {r.SectionId}: ISR 0x{isr:X2} has undefined bits");
        var queue = Queue.ReadState(r);
        return () =>
        {
            Status = status; DriverFeatures = features; Broken = broken;
            queue();
            Isr = isr;
            InterruptChanged?.Invoke();
        };
    }
}
