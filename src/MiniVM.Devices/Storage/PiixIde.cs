using System.Buffers.Binary;

namespace MiniVM.Devices.Storage;

/// <summary>
/// The PIIX3 IDE function (PCI 00:01.1, 8086:7010, class 01.01, prog-if 80h): two IDE channels in
/// compatibility mode at the legacy ports (0x1F0-0x1F7 + 0x3F6 on IRQ 14, 0x170-0x177 + 0x376 on IRQ 15)
/// and the bus-master register block behind BAR4. The disks here speak PIO only (IDENTIFY offers no DMA
/// mode and DMA commands abort), so the bus-master registers hold what the host writes and report the
/// channel interrupt, but never move data. The 256-byte configuration space is kept here (Intel 82371SB
/// datasheet §2.3) because no shared PCI config-space helper exists yet.
/// </summary>
public sealed class PiixIde : IPciFunction, ISnapshottable
{
    private const int Bar4 = 0x20, BusMasterSize = 16;

    private readonly byte[] _config = new byte[256];
    private readonly BusMasterRegisters _busMaster;
    private PortBus? _ports;
    private ushort _mappedBusMaster; // 0 = not mapped

    public PiixIde(IIrqLine irq14, IIrqLine irq15,
        AtaDrive? primaryMaster, AtaDrive? primarySlave = null, AtaDrive? secondaryMaster = null, AtaDrive? secondarySlave = null)
    {
        Primary = new IdeChannel(irq14, 0x1F0, 0x3F6, primaryMaster, primarySlave);
        Secondary = new IdeChannel(irq15, 0x170, 0x376, secondaryMaster, secondarySlave);
        _busMaster = new BusMasterRegisters();
        Primary.InterruptRaised = () => _busMaster.LatchInterrupt(0);
        Secondary.InterruptRaised = () => _busMaster.LatchInterrupt(1);
        ResetConfig();
    }

    public IdeChannel Primary { get; }
    public IdeChannel Secondary { get; }

    public int Device => 1;
    public int Function => 1;

    public string SectionId => "ide";
    public int SectionVersion => 1;

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
        _busMaster.Reset();
        RemapBusMaster();
        Primary.Reset();
        Secondary.Reset();
    }

    private void ResetConfig()
    {
        Array.Clear(_config);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x00), 0x8086);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x02), 0x7010);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x06), 0x0280); // fast back-to-back, medium DEVSEL
        _config[0x09] = 0x80;  // prog-if: bus master capable, both channels in compatibility mode (not switchable)
        _config[0x0A] = 0x01;  // IDE
        _config[0x0B] = 0x01;  // mass storage
        _config[Bar4] = 0x01;  // I/O space BAR
    }

    public uint ReadConfig(int offset, int size)
    {
        if (offset < 0 || offset + size > 256 || size is not (1 or 2 or 4)) return 0xFFFF_FFFF;
        uint value = 0;
        for (int i = 0; i < size; i++) value |= (uint)_config[offset + i] << (8 * i);
        return value;
    }

    public void WriteConfig(int offset, int size, uint value)
    {
        if (offset < 0 || offset + size > 256 || size is not (1 or 2 or 4)) return;
        for (int i = 0; i < size; i++) WriteConfigByte(offset + i, (byte)(value >> (8 * i)));
        RemapBusMaster();
    }

    private void WriteConfigByte(int offset, byte value)
    {
        switch (offset)
        {
            case 0x04: _config[0x04] = (byte)(value & 0x05); break;        // I/O space, bus master
            case 0x07: _config[0x07] &= (byte)~(value & 0x38); break;       // status: write 1 to clear the abort bits
            case 0x0D: _config[0x0D] = (byte)(value & 0xF0); break;        // latency timer
            case Bar4: _config[Bar4] = (byte)((value & 0xF0) | 0x01); break; // 16-byte I/O BAR
            case Bar4 + 1: _config[Bar4 + 1] = value; break;
            case 0x3C: _config[0x3C] = value; break;                       // interrupt line (scratch for software)
            case >= 0x40 and <= 0x44: _config[offset] = value; break;      // IDETIM primary/secondary, SIDETIM
        }
    }

    private ushort BusMasterBase => (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(Bar4)) & 0xFFF0);

    private void RemapBusMaster()
    {
        if (_ports is null) return;
        ushort wanted = (_config[0x04] & 0x01) != 0 ? BusMasterBase : (ushort)0;
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
        w.WriteBytes(_config);
        _busMaster.SaveState(w);
        Primary.SaveState(w);
        Secondary.SaveState(w);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var config = new byte[256];
        r.ReadBytes(config);
        if (BinaryPrimitives.ReadUInt32LittleEndian(config) != 0x7010_8086)
            throw new StateFormatException($"section {SectionId}: configuration space is not a PIIX3 IDE function");
        var busMaster = _busMaster.ReadState(r);
        var primary = Primary.ReadState(r);
        var secondary = Secondary.ReadState(r);
        config.CopyTo(_config, 0);
        busMaster();
        primary();
        secondary();
        RemapBusMaster();
    }

    /// <summary>
    /// BMICx/BMISx/BMIDTPx for both channels (82371SB §2.7). Status bit 2 latches the channel interrupt as
    /// the PIIX does; bits 1 and 2 clear when written with 1; the DMA-capable bits 5-6 are plain storage.
    /// </summary>
    private sealed class BusMasterRegisters : IPortDevice
    {
        private readonly byte[] _command = new byte[2];
        private readonly byte[] _status = new byte[2];
        private readonly uint[] _prdTable = new uint[2];

        public void Reset()
        {
            Array.Clear(_command); Array.Clear(_status); Array.Clear(_prdTable);
        }

        public void LatchInterrupt(int channel) => _status[channel] |= 0x04;

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

        private byte ReadByte(int reg)
        {
            int ch = reg >> 3;
            return (reg & 7) switch
            {
                0 => _command[ch],
                2 => _status[ch],
                >= 4 => (byte)(_prdTable[ch] >> (8 * ((reg & 7) - 4))),
                _ => 0,
            };
        }

        private void WriteByte(int reg, byte value)
        {
            int ch = reg >> 3;
            switch (reg & 7)
            {
                case 0: _command[ch] = (byte)(value & 0x09); break;
                case 2: _status[ch] = (byte)((_status[ch] & ~(value & 0x06) & ~0x60) | (value & 0x60)); break;
                case >= 4:
                {
                    int shift = 8 * ((reg & 7) - 4);
                    uint v = (_prdTable[ch] & ~(0xFFu << shift)) | ((uint)value << shift);
                    _prdTable[ch] = v & 0xFFFF_FFFC; // descriptor table is dword aligned
                    break;
                }
            }
        }

        public void SaveState(StateWriter w)
        {
            for (int i = 0; i < 2; i++) { w.Write(_command[i]); w.Write(_status[i]); w.Write(_prdTable[i]); }
        }

        public Action ReadState(StateReader r)
        {
            var values = new (byte Cmd, byte Status, uint Prd)[2];
            for (int i = 0; i < 2; i++) values[i] = (r.ReadByte(), r.ReadByte(), r.ReadUInt32());
            return () =>
            {
                for (int i = 0; i < 2; i++) { _command[i] = values[i].Cmd; _status[i] = values[i].Status; _prdTable[i] = values[i].Prd; }
            };
        }
    }
}
