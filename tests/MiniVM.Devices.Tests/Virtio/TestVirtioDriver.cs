using System.Buffers.Binary;
using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Devices.Pci;
using MiniVM.Devices.Virtio;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>
/// A small virtio-blk driver the way SeaBIOS and Linux set the device up: BAR programming and bus mastering through
/// configuration space, reset / ACKNOWLEDGE / DRIVER / features / FEATURES_OK (modern) / queue / DRIVER_OK, one split
/// ring at fixed addresses (descriptors 0x1000, available 0x1800, used 0x2000 — also the legacy PFN-1 layout), and
/// requests built from header, data and status buffers. Everything goes through the device's own registers.
/// </summary>
internal sealed class TestVirtioDriver
{
    public const ulong DescTable = 0x1000, AvailRing = 0x1800, UsedRing = 0x2000;
    public const ulong HeaderAt = 0x10000, StatusAt = 0x10100, DataAt = 0x20000;
    public const ushort LegacyIo = 0xC000;
    public const uint ModernBar = 0xFEB0_0000;
    public const ushort Size = 128;

    private readonly PortBus _ports = new();
    private readonly Dictionary<byte, uint> _regions = new();
    private ushort _availIdx;

    public TestVirtioDriver(string transport, IBlockDriver disk, int ramSize = 1 << 20)
    {
        Ram = new StrictGuestMemory(ramSize);
        Modern = transport == "modern";
        if (Modern)
        {
            var d = new VirtioBlkPciModern(disk, Ram, device: 3, serial: "MVMTESTSERIAL0123456789").Wired(Irq);
            Device = d;
            d.WriteConfig(0x20, 4, ModernBar);
            d.WriteConfig(PciConfigSpace.Command, 2, PciConfigSpace.CommandMemory | PciConfigSpace.CommandBusMaster);
            // Find the regions the way Linux's virtio_pci_modern does: walk the vendor capabilities.
            for (int cap = (int)d.ReadConfig(0x34, 1); cap != 0; cap = (int)d.ReadConfig(cap + 1, 1))
                if (d.ReadConfig(cap, 1) == 0x09 && d.ReadConfig(cap + 4, 1) == 4)
                    _regions.TryAdd((byte)d.ReadConfig(cap + 3, 1), d.ReadConfig(cap + 8, 4));
        }
        else
        {
            var d = new VirtioBlkPciLegacy(disk, Ram, device: 3, serial: "MVMTESTSERIAL0123456789").Wired(Irq);
            Device = d;
            d.Attach(_ports);
            d.WriteConfig(0x10, 4, LegacyIo);
            d.WriteConfig(PciConfigSpace.Command, 2, PciConfigSpace.CommandIo | PciConfigSpace.CommandBusMaster);
        }
    }

    public StrictGuestMemory Ram { get; }
    public LevelIrq Irq { get; } = new();
    public VirtioBlkPci Device { get; }
    public bool Modern { get; }

    // ---- registers -------------------------------------------------------------------------------------------

    private VirtioBlkPciModern M => (VirtioBlkPciModern)Device;

    public uint Common(uint reg, int size) => M.ReadMmio(_regions[1] + reg, size);
    public void SetCommon(uint reg, int size, uint value) => M.WriteMmio(_regions[1] + reg, size, value);
    public uint Legacy(int reg, int size) => _ports.Read((ushort)(LegacyIo + reg), size);
    public void SetLegacy(int reg, int size, uint value) => _ports.Write((ushort)(LegacyIo + reg), size, value);

    public byte Status => (byte)(Modern ? Common(0x14, 1) : Legacy(0x12, 1));
    public void SetStatus(byte s) { if (Modern) SetCommon(0x14, 1, s); else SetLegacy(0x12, 1, s); }
    public byte ReadIsr() => (byte)(Modern ? M.ReadMmio(_regions[3], 1) : Legacy(0x13, 1));

    public uint DeviceConfig(int offset, int size) => Modern ? M.ReadMmio(_regions[4] + (uint)offset, size) : Legacy(20 + offset, size);

    public ulong DeviceFeatures()
    {
        if (!Modern) return Legacy(0, 4);
        SetCommon(0x00, 4, 0); ulong lo = Common(0x04, 4);
        SetCommon(0x00, 4, 1); ulong hi = Common(0x04, 4);
        return lo | (hi << 32);
    }

    public void Notify()
    {
        if (Modern) M.WriteMmio(_regions[2], 2, 0); else SetLegacy(0x10, 2, 0);
    }

    /// <summary>The initialization sequence of §3.1.1; returns the status read back after FEATURES_OK (modern).</summary>
    public byte Initialize(ulong? accept = null)
    {
        SetStatus(0);
        SetStatus(VirtioStatus.Acknowledge);
        SetStatus(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        ulong features = accept ?? DeviceFeatures();
        byte status = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        if (Modern)
        {
            SetCommon(0x08, 4, 0); SetCommon(0x0C, 4, (uint)features);
            SetCommon(0x08, 4, 1); SetCommon(0x0C, 4, (uint)(features >> 32));
            SetStatus(status |= VirtioStatus.FeaturesOk);
            if ((Status & VirtioStatus.FeaturesOk) == 0) return Status;
            SetCommon(0x16, 2, 0);
            SetCommon(0x18, 2, Size);
            SetCommon(0x20, 4, (uint)DescTable); SetCommon(0x24, 4, 0);
            SetCommon(0x28, 4, (uint)AvailRing); SetCommon(0x2C, 4, 0);
            SetCommon(0x30, 4, (uint)UsedRing); SetCommon(0x34, 4, 0);
            SetCommon(0x1C, 2, 1);
        }
        else
        {
            SetLegacy(0x04, 4, (uint)features);
            SetLegacy(0x0E, 2, 0);
            SetLegacy(0x08, 4, (uint)(DescTable >> 12));
        }
        SetStatus(status |= VirtioStatus.DriverOk);
        _availIdx = 0;
        return Status;
    }

    // ---- rings -------------------------------------------------------------------------------------------------

    public const ushort Next = 1, Write = 2, Indirect = 4;

    public void WriteDescriptor(ulong table, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        var d = Ram.Bytes.AsSpan((int)(table + (ulong)index * 16), 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Puts <paramref name="head"/> in the available ring, publishes the index and kicks the device.</summary>
    public void Publish(ushort head, bool kick = true)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes.AsSpan((int)(AvailRing + 4 + 2u * (ulong)(_availIdx % Size))), head);
        _availIdx++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes.AsSpan((int)AvailRing + 2), _availIdx);
        if (kick) Notify();
    }

    public void SetAvailIndex(ushort idx)
    {
        _availIdx = idx;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes.AsSpan((int)AvailRing + 2), idx);
    }

    public void SetAvailFlags(ushort flags) => BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes.AsSpan((int)AvailRing), flags);

    public ushort UsedIndex => BinaryPrimitives.ReadUInt16LittleEndian(Ram.Bytes.AsSpan((int)UsedRing + 2));

    public (uint Id, uint Len) UsedElement(int i)
    {
        var e = Ram.Bytes.AsSpan((int)(UsedRing + 4 + 8u * (ulong)(i % Size)), 8);
        return (BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]));
    }

    public void WriteHeader(uint type, ulong sector, ulong at = HeaderAt)
    {
        var h = Ram.Bytes.AsSpan((int)at, 16);
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
    }

    /// <summary>A three-descriptor request at descriptors 0..2: header, data (device-writable for reads), status.</summary>
    public byte Request(uint type, ulong sector, uint dataLength, bool dataWritable, ulong dataAt = DataAt)
    {
        WriteHeader(type, sector);
        Ram.Bytes[StatusAt] = 0xEE;
        WriteDescriptor(DescTable, 0, HeaderAt, 16, Next, 1);
        WriteDescriptor(DescTable, 1, dataAt, dataLength, (ushort)(Next | (dataWritable ? Write : 0)), 2);
        WriteDescriptor(DescTable, 2, StatusAt, 1, Write, 0);
        Publish(0);
        return Ram.Bytes[StatusAt];
    }

    public byte ReadSectors(ulong sector, int count) => Request(VirtioBlkRequestType.In, sector, (uint)count * 512, dataWritable: true);

    public byte WriteSectors(ulong sector, ReadOnlySpan<byte> data)
    {
        data.CopyTo(Ram.Bytes.AsSpan((int)DataAt));
        return Request(VirtioBlkRequestType.Out, sector, (uint)data.Length, dataWritable: false);
    }
}
