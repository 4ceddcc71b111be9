using System.Buffers.Binary;
using MiniVM.Block;
using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Virtio;

/// <summary>
/// virtio-blk on the modern PCI transport (VIRTIO 1.1 §4.1): device 1AF4:1042, revision 1, VERSION_1 offered, and
/// vendor capabilities locating four regions in the 16 KiB memory BAR4 — common configuration (§4.1.4.3), ISR
/// (§4.1.4.5), device configuration (§4.1.4.6) and notifications (§4.1.4.4) — plus the PCI configuration access
/// capability (§4.1.4.7). No MSI-X: interrupts are INTx only. BAR4 is the <see cref="Bar4"/> window, which the board
/// maps where the guest puts it.
/// </summary>
public sealed class VirtioBlkPciModern : VirtioBlkPci, IMmioDevice, IMmioMapped
{
    public const ushort DeviceId = 0x1042;
    public const uint BarSize = 0x4000;
    private const int Bar = 4;
    private const uint CommonAt = 0x0000, IsrAt = 0x1000, DeviceAt = 0x2000, NotifyAt = 0x3000, RegionSize = 0x1000;
    private const uint NotifyMultiplier = 4;
    private const int PciCfgCap = 0x84, PciCfgData = PciCfgCap + 16;

    private uint _deviceFeatureSelect, _driverFeatureSelect;
    private ushort _queueSelect;

    public VirtioBlkPciModern(IBlockDriver disk, IGuestMemory memory, int device, string serial)
        : base(disk, memory, device, DeviceId, revision: 1, modern: true, serial)
    {
        Config.DefineBar(Bar, PciBarKind.Memory32, BarSize);
        var c = Config.Bytes;
        c[PciConfigSpace.Status] |= 0x10; // capabilities list
        c[0x34] = 0x40;
        WriteCap(0x40, next: 0x50, length: 16, type: 1, CommonAt);
        WriteCap(0x50, next: 0x60, length: 16, type: 3, IsrAt);
        WriteCap(0x60, next: 0x70, length: 16, type: 4, DeviceAt);
        WriteCap(0x70, next: PciCfgCap, length: 20, type: 2, NotifyAt);
        BinaryPrimitives.WriteUInt32LittleEndian(c[(0x70 + 16)..], NotifyMultiplier);
        WriteCap(PciCfgCap, next: 0, length: 20, type: 5, 0);
        c[PciCfgCap + 4] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(c[(PciCfgCap + 12)..], 0);
        Config.SetWritable(PciCfgCap + 4, 1);   // cap.bar
        Config.SetWritable(PciCfgCap + 8, 8);   // cap.offset, cap.length
        Config.SetWritable(PciCfgData, 4);      // pci_cfg_data
    }

    private void WriteCap(int at, int next, int length, byte type, uint offset)
    {
        var c = Config.Bytes;
        c[at] = 0x09; // vendor-specific
        c[at + 1] = (byte)next;
        c[at + 2] = (byte)length;
        c[at + 3] = type;
        c[at + 4] = Bar;
        BinaryPrimitives.WriteUInt32LittleEndian(c[(at + 8)..], offset);
        BinaryPrimitives.WriteUInt32LittleEndian(c[(at + 12)..], type == 5 ? 0 : RegionSize);
    }

    public override string SectionId => $"virtio-blk-modern@{Device:X2}";

    private MmioWindow? _bar4;

    /// <summary>BAR4, decoded while memory decoding is on and the BAR is set (made on first use: the base
    /// constructor already updates the mappings).</summary>
    public MmioWindow Bar4 => _bar4 ??= new MmioWindow(this, BarSize);

    public IReadOnlyList<MmioWindow> MmioWindows => [Bar4];

    /// <summary>Where BAR4 is decoded now, or null while memory decoding is off or the BAR is unset.</summary>
    public ulong? MmioAddress => Bar4.Address;

    protected override void OnConfigWritten(int offset, int size)
    {
        UpdateMappings();
        // A write to pci_cfg_data is a write into the BAR through the window (§4.1.4.7.1).
        if (offset < PciCfgData + 4 && PciCfgData < offset + size && CfgWindow() is var (off, len))
            WriteMmio(off, len, Config.Read(PciCfgData, 4));
    }

    public override uint ReadConfig(int offset, int size)
    {
        if (offset < PciCfgData + 4 && PciCfgData < offset + size && CfgWindow() is var (off, len))
        {
            uint v = ReadMmio(off, len);
            BinaryPrimitives.WriteUInt32LittleEndian(Config.Bytes[PciCfgData..], v);
        }
        return Config.Read(offset, size);
    }

    /// <summary>The BAR range the configuration access capability selects, if it is one the device supports.</summary>
    private (ulong Offset, int Length)? CfgWindow()
    {
        var c = Config.Bytes;
        uint off = BinaryPrimitives.ReadUInt32LittleEndian(c[(PciCfgCap + 8)..]);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(c[(PciCfgCap + 12)..]);
        if (c[PciCfgCap + 4] != Bar || len is not (1 or 2 or 4) || off % len != 0 || off >= BarSize) return null;
        return (off, (int)len);
    }

    protected override void ResetTransport()
    {
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _queueSelect = 0;
        Config.Bytes.Slice(PciCfgCap + 4, 1).Clear();
        Config.Bytes.Slice(PciCfgCap + 8, 12).Clear();
    }

    protected override void RestoreBarTypes() { } // Memory32: type bits are zero

    protected override void UpdateMappings()
    {
        uint bar = (uint)Config.GetBarAddress(Bar);
        ulong? at = Config.MemoryEnabled && bar != 0 && (ulong)bar + BarSize - 1 < 0xFFFF_FFFFul ? bar : null;
        Bar4.MoveTo(at);
    }

    public uint ReadMmio(ulong offset, int size)
    {
        if (offset >= BarSize) return 0;
        uint region = (uint)offset & ~(RegionSize - 1), reg = (uint)offset & (RegionSize - 1);
        return region switch
        {
            CommonAt => ReadCommon(reg, size),
            IsrAt => reg == 0 ? Blk.ReadAndClearIsr() : 0u,
            DeviceAt => Blk.ReadConfig((int)reg, size),
            _ => 0,
        };
    }

    public void WriteMmio(ulong offset, int size, uint value)
    {
        if (offset >= BarSize) return;
        uint region = (uint)offset & ~(RegionSize - 1), reg = (uint)offset & (RegionSize - 1);
        if (region == CommonAt) WriteCommon(reg, size, value);
        else if (region == NotifyAt && reg == 0) Notify((ushort)value); // queue_notify_off 0 × multiplier
    }

    private bool QueueSelected => _queueSelect == 0;

    /// <summary>struct virtio_pci_common_cfg (§4.1.4.3); fields are read at their natural size or as halves of 64 bits.</summary>
    private uint ReadCommon(uint reg, int size)
    {
        var q = Blk.Queue;
        uint v = reg switch
        {
            0x00 => _deviceFeatureSelect,
            0x04 => Blk.ReadDeviceFeatures((int)Math.Min(_deviceFeatureSelect, 2)),
            0x08 => _driverFeatureSelect,
            0x0C => _driverFeatureSelect switch { 0 => (uint)Blk.DriverFeatures, 1 => (uint)(Blk.DriverFeatures >> 32), _ => 0 },
            0x10 => 0xFFFF,                    // msix_config: VIRTIO_MSI_NO_VECTOR
            0x12 => 1,                         // num_queues
            0x14 => Blk.Status,
            0x15 => 0,                         // config_generation: the configuration never changes
            0x16 => _queueSelect,
            0x18 => QueueSelected ? q.Size : 0u,
            0x1A => 0xFFFF,                    // queue_msix_vector
            0x1C => QueueSelected && q.Enabled ? 1u : 0u,
            0x1E => 0,                         // queue_notify_off
            0x20 => QueueSelected ? (uint)q.DescriptorTable : 0,
            0x24 => QueueSelected ? (uint)(q.DescriptorTable >> 32) : 0,
            0x28 => QueueSelected ? (uint)q.AvailRing : 0,
            0x2C => QueueSelected ? (uint)(q.AvailRing >> 32) : 0,
            0x30 => QueueSelected ? (uint)q.UsedRing : 0,
            0x34 => QueueSelected ? (uint)(q.UsedRing >> 32) : 0,
            _ => 0,
        };
        return size switch { 1 => v & 0xFF, 2 => v & 0xFFFF, _ => v };
    }

    private void WriteCommon(uint reg, int size, uint value)
    {
        var q = Blk.Queue;
        bool queueWritable = QueueSelected && !q.Enabled; // queue fields are frozen once enabled (§4.1.4.3.2)
        switch (reg)
        {
            case 0x00: _deviceFeatureSelect = value; break;
            case 0x08: _driverFeatureSelect = value; break;
            case 0x0C: Blk.WriteDriverFeatures((int)Math.Min(_driverFeatureSelect, 2), value); break;
            case 0x14: Blk.WriteStatus((byte)value); if ((byte)value == 0) ResetTransport(); break;
            case 0x16: _queueSelect = (ushort)value; break;
            case 0x18:
                ushort n = (ushort)value;
                if (queueWritable && n != 0 && n <= q.MaxSize && (n & (n - 1)) == 0) q.Size = n;
                break;
            case 0x1C: if (QueueSelected && (value & 1) != 0) q.Enabled = true; break;
            case 0x20: if (queueWritable) q.DescriptorTable = Low(q.DescriptorTable, value); break;
            case 0x24: if (queueWritable) q.DescriptorTable = High(q.DescriptorTable, value); break;
            case 0x28: if (queueWritable) q.AvailRing = Low(q.AvailRing, value); break;
            case 0x2C: if (queueWritable) q.AvailRing = High(q.AvailRing, value); break;
            case 0x30: if (queueWritable) q.UsedRing = Low(q.UsedRing, value); break;
            case 0x34: if (queueWritable) q.UsedRing = High(q.UsedRing, value); break;
        }
    }

    private static ulong Low(ulong v, uint low) => (v & 0xFFFF_FFFF_0000_0000UL) | low;
    private static ulong High(ulong v, uint high) => (v & 0xFFFF_FFFFUL) | ((ulong)high << 32);

    protected override void SaveTransport(StateWriter writer)
    {
        writer.Write(_deviceFeatureSelect); writer.Write(_driverFeatureSelect); writer.Write(_queueSelect);
    }

    protected override Action ReadTransport(StateReader reader)
    {
        uint dev = reader.ReadUInt32(), drv = reader.ReadUInt32();
        ushort select = reader.ReadUInt16();
        return () => { _deviceFeatureSelect = dev; _driverFeatureSelect = drv; _queueSelect = select; };
    }
}
