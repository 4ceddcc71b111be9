using MiniVM.Block;
using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Virtio;

/// <summary>
/// virtio-blk on the legacy PCI transport (VIRTIO 1.1 §4.1.4.8): device 1AF4:1001, revision 0, subsystem device 2,
/// registers in I/O BAR0 — host features, guest features, queue PFN (page-aligned ring, align 4096), queue size,
/// queue select, notify, status, ISR — and the block configuration at offset 20, as no MSI-X capability exists.
/// </summary>
public sealed class VirtioBlkPciLegacy : VirtioBlkPci, IPortMapped, IPortDevice
{
    public const ushort DeviceId = 0x1001;
    private const int ConfigOffset = 20;
    private const uint BarSize = 128; // 20 bytes of registers + the 60-byte block configuration, rounded up

    private PortBus? _ports;
    private ushort _mapped; // 0 = not mapped
    private ushort _queueSelect;

    public VirtioBlkPciLegacy(IBlockDriver disk, IGuestMemory memory, int device, string serial)
        : base(disk, memory, device, DeviceId, revision: 0, modern: false, serial)
    {
        Config.Bytes[0x2E] = 0x02; Config.Bytes[0x2F] = 0x00; // subsystem device = virtio device type (block)
        Config.DefineBar(0, PciBarKind.Io, BarSize);
    }

    public override string SectionId => $"virtio-blk-legacy@{Device:X2}";

    /// <summary>The I/O base the registers are decoded at now, or 0.</summary>
    public ushort IoBase => _mapped;

    public void Attach(PortBus ports)
    {
        _ports = ports;
        UpdateMappings();
    }

    protected override void OnConfigWritten(int offset, int size) => UpdateMappings();

    protected override void ResetTransport() => _queueSelect = 0;

    protected override void SaveTransport(StateWriter writer) => writer.Write(_queueSelect);

    protected override Action ReadTransport(StateReader reader)
    {
        ushort select = reader.ReadUInt16();
        return () => _queueSelect = select;
    }

    protected override void RestoreBarTypes() => Config.Bytes[0x10] = 0x01;

    protected override void UpdateMappings()
    {
        if (_ports is null) return;
        ulong bar = Config.GetBarAddress(0);
        ushort wanted = Config.IoEnabled && bar is > 0 and <= 0x10000 - BarSize ? (ushort)bar : (ushort)0;
        if (wanted == _mapped) return;
        if (_mapped != 0) _ports.Unregister(_mapped, (int)BarSize, this);
        _mapped = 0;
        if (wanted == 0) return;
        try
        {
            _ports.Register(wanted, (int)BarSize, this);
            _mapped = wanted;
        }
        catch (InvalidOperationException)
        {
            // Placed over another device's ports: like a decode conflict, unreachable until moved.
        }
    }

    public uint ReadPort(ushort port, int size)
    {
        int reg = port - _mapped;
        if (reg >= ConfigOffset) return Blk.ReadConfig(reg - ConfigOffset, size);
        return reg switch
        {
            0x00 => Blk.ReadDeviceFeatures(0),
            0x04 => (uint)Blk.DriverFeatures,
            0x08 => _queueSelect == 0 ? (uint)(Blk.Queue.Enabled ? Blk.Queue.DescriptorTable >> 12 : 0) : 0,
            0x0C => _queueSelect == 0 ? Blk.Queue.Size : 0u,
            0x0E => _queueSelect,
            0x10 => 0,
            0x12 => Blk.Status,
            0x13 => Blk.ReadAndClearIsr(),
            _ => 0,
        };
    }

    public void WritePort(ushort port, int size, uint value)
    {
        int reg = port - _mapped;
        switch (reg)
        {
            case 0x04: Blk.WriteDriverFeatures(0, value); break;
            case 0x08:
                if (_queueSelect == 0) Blk.Queue.SetLegacyLayout(value);
                break;
            case 0x0E: _queueSelect = (ushort)value; break;
            case 0x10: Notify((ushort)value); break;
            case 0x12: Blk.WriteStatus((byte)value); if ((byte)value == 0) _queueSelect = 0; break;
        }
    }
}
