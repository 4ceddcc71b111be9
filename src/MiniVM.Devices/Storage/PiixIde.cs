using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Storage;

/// <summary>
/// The PIIX3 IDE function (PCI 00:01.1, 8086:7010, class 01.01, prog-if 80h): two IDE channels in
/// compatibility mode at the legacy ports (0x1F0-0x1F7 + 0x3F6 on IRQ 14, 0x170-0x177 + 0x376 on IRQ 15)
/// and the bus-master register block behind BAR4 (<see cref="BusMasterChannel"/>), which moves the data of the
/// disks' READ/WRITE DMA and the CD-ROM's DMA packets. Configuration registers follow the Intel 82371SB datasheet §2.3.
/// </summary>
public sealed class PiixIde : IPciFunction, ISnapshottable, IPortMapped, IResettable, IInterruptSource
{
    private const int BusMasterBar = 4, BusMasterSize = 16;

    private readonly PciConfigSpace _config;
    private readonly BusMasterPorts _busMaster;
    private PortBus? _ports;
    private ushort _mappedBusMaster; // 0 = not mapped

    /// <param name="memory">Guest RAM as the bus master reaches it.</param>
    public PiixIde(IGuestMemory memory,
        IdeDevice? primaryMaster, IdeDevice? primarySlave = null, IdeDevice? secondaryMaster = null, IdeDevice? secondarySlave = null)
    {
        Primary = new IdeChannel(Irq14, 0x1F0, 0x3F6, primaryMaster, primarySlave, new BusMasterChannel(memory));
        Secondary = new IdeChannel(Irq15, 0x170, 0x376, secondaryMaster, secondarySlave, new BusMasterChannel(memory));
        _busMaster = new BusMasterPorts(Primary.BusMaster, Secondary.BusMaster);
        // prog-if 80h: bus-master capable, both channels fixed in compatibility mode.
        _config = new PciConfigSpace(0x8086, 0x7010, classCode: 0x01, subclass: 0x01, progIf: 0x80);
        _config.DefineBar(BusMasterBar, PciBarKind.Io, BusMasterSize);
        _config.SetWritable(0x40, 5); // IDETIM primary/secondary, SIDETIM
        _config.Written += (_, _) => RemapBusMaster();
        ResetConfig();
    }

    /// <summary>The primary channel's INTRQ: ISA IRQ 14 in compatibility mode.</summary>
    public IrqOutput Irq14 { get; } = IrqOutput.Isa(14);

    /// <summary>The secondary channel's INTRQ: ISA IRQ 15.</summary>
    public IrqOutput Irq15 { get; } = IrqOutput.Isa(15);

    public IReadOnlyList<IrqOutput> IrqOutputs => [Irq14, Irq15];

    public PciConfigSpace Config => _config;

    public IdeChannel Primary { get; }
    public IdeChannel Secondary { get; }

    public int Device => 1;
    public int Function => 1;

    public string SectionId => "ide";
    /// <summary>2: bus-master DMA (transfer mode, DMA commands waiting) and ATAPI devices (issue 14).</summary>
    public int SectionVersion => 2;

    /// <summary>Registers both channels' legacy ports; BAR4 maps itself on this bus once the BIOS programs it.</summary>
    public void Attach(PortBus ports)
    {
        _ports = ports;
        Primary.Attach(ports);
        Secondary.Attach(ports);
        RemapBusMaster();
    }

    /// <summary>Machine reset: configuration defaults, both channels and their disks reset.</summary>
    public void Reset()
    {
        ResetConfig();
        RemapBusMaster();
        Primary.Reset();
        Secondary.Reset();
    }

    private void ResetConfig()
    {
        var c = _config.Bytes;
        c[0x04] = 0x00; c[0x05] = 0x00;
        c[0x06] = 0x80; c[0x07] = 0x02;                      // fast back-to-back, medium DEVSEL
        c[0x0C] = 0x00; c[0x0D] = 0x00;
        c[0x20] = 0x01; c[0x21] = 0x00; c[0x22] = 0x00; c[0x23] = 0x00; // BAR4: I/O, unassigned
        c[PciConfigSpace.InterruptLine] = 0x00;
        c.Slice(0x40, 5).Clear();
    }

    public uint ReadConfig(int offset, int size) => _config.Read(offset, size);

    public void WriteConfig(int offset, int size, uint value) => _config.Write(offset, size, value);

    private void RemapBusMaster()
    {
        if (_ports is null) return;
        ulong bar = _config.GetBarAddress(BusMasterBar);
        ushort wanted = _config.IoEnabled && bar is > 0 and <= 0xFFF0 ? (ushort)bar : (ushort)0;
        if (wanted == _mappedBusMaster) return;
        if (_mappedBusMaster != 0) _ports.Unregister(_mappedBusMaster, BusMasterSize, _busMaster);
        _mappedBusMaster = 0;
        if (wanted == 0) return;
        try
        {
            _ports.Register(wanted, BusMasterSize, _busMaster);
            _mappedBusMaster = wanted;
        }
        catch (InvalidOperationException)
        {
            // The guest placed BAR4 over another device's ports: like a decode conflict on real hardware,
            // the bus-master block stays unreachable until it is moved.
        }
    }

    public void SaveState(StateWriter w)
    {
        _config.Save(w);
        Primary.SaveState(w);
        Secondary.SaveState(w);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var before = _config.Bytes.ToArray();
        Action primary, secondary;
        try
        {
            _config.Load(r); // refuses a section of another PCI device
            primary = Primary.ReadState(r);
            secondary = Secondary.ReadState(r);
        }
        catch (StateFormatException)
        {
            before.CopyTo(_config.Bytes);
            throw;
        }
        primary();
        secondary();
        RemapBusMaster();
    }

    /// <summary>BMICx/BMISx/BMIDTPx of both channels at BAR4 (82371SB §2.7): channel 0 at +0, channel 1 at +8.</summary>
    private sealed class BusMasterPorts(BusMasterChannel primary, BusMasterChannel secondary) : IPortDevice
    {
        public uint ReadPort(ushort port, int size)
        {
            uint value = 0;
            for (int i = 0; i < size; i++) value |= (uint)ReadByte((port + i) & 0x0F) << (8 * i);
            return value;
        }

        public void WritePort(ushort port, int size, uint value)
        {
            for (int i = 0; i < size; i++) WriteByte((port + i) & 0x0F, (byte)(value >> (8 * i)));
        }

        private BusMasterChannel Channel(int reg) => reg < 8 ? primary : secondary;

        private byte ReadByte(int reg)
        {
            var ch = Channel(reg);
            return (reg & 7) switch
            {
                0 => ch.Command,
                2 => ch.Status,
                >= 4 => (byte)(ch.PrdTable >> (8 * ((reg & 7) - 4))),
                _ => 0,
            };
        }

        private void WriteByte(int reg, byte value)
        {
            var ch = Channel(reg);
            switch (reg & 7)
            {
                case 0: ch.WriteCommand(value); break;
                case 2: ch.WriteStatus(value); break;
                case >= 4: ch.WritePrdTable((reg & 7) - 4, value); break;
            }
        }
    }
}
