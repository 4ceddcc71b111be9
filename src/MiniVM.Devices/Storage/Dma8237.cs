namespace MiniVM.Devices.Storage;

/// <summary>What a DMA channel's mode register says the next cycles do (8237A mode bits 3..2).</summary>
public enum DmaTransferType
{
    /// <summary>Cycles run and the count advances, but memory is not touched.</summary>
    Verify = 0,
    /// <summary>Device → memory ("write" in 8237 terms: the DMA writes memory). A floppy READ DATA.</summary>
    WriteToMemory = 1,
    /// <summary>Memory → device. A floppy WRITE DATA or FORMAT TRACK.</summary>
    ReadFromMemory = 2,
    /// <summary>Mode 11b, undefined on the 8237A; treated as no transfer.</summary>
    Illegal = 3,
}

/// <summary>
/// The two cascaded Intel 8237A DMA controllers of the PC/AT: DMA1 (8-bit channels 0-3, ports 0x00-0x0F)
/// and DMA2 (16-bit channels 4-7, ports 0xC0-0xDF at even addresses), plus the 74LS612 page registers
/// (0x81-0x8F; 0x80 is the POST code port and belongs to another device).
/// Transfers run synchronously when a client's DREQ meets an unmasked channel: a device that asks for
/// service is called back at once, or as soon as the guest unmasks the channel.
/// </summary>
public sealed class Dma8237 : IPortDevice, ISnapshottable, IPortMapped, IResettable
{
    private struct Channel
    {
        public ushort BaseAddress, BaseCount, CurrentAddress, CurrentCount;
        public byte Mode, Page;
        public bool Request;
    }

    /// <summary>Per-controller registers (8237A datasheet: command, status, mask, flip-flop, temporary).</summary>
    private struct Controller
    {
        public byte Command, Status, Mask, Temporary, SoftwareRequest;
        public bool FlipFlop;
    }

    // Page register port (0x80 + index) for each channel; 0 = none. Channel 4 is the cascade (0x8F, refresh on some boards).
    private static ReadOnlySpan<byte> PagePortOfChannel => [0x07, 0x03, 0x01, 0x02, 0x0F, 0x0B, 0x09, 0x0A];

    private readonly IGuestMemory _memory;
    private readonly Channel[] _channels = new Channel[8];
    private readonly Controller[] _controllers = new Controller[2];
    private readonly IDmaClient?[] _clients = new IDmaClient?[8];
    private readonly byte[] _extraPages = new byte[16];
    private bool _servicing;

    public Dma8237(IGuestMemory memory)
    {
        _memory = memory;
        Reset();
    }

    /// <summary>Machine reset: both controllers master-cleared (all channels masked), registers and pages zeroed.</summary>
    public void Reset()
    {
        Array.Clear(_channels);
        Array.Clear(_extraPages);
        MasterClear(0);
        MasterClear(1);
    }

    public string SectionId => "dma";
    public int SectionVersion => 1;

    /// <summary>Registers DMA1, DMA2 and the page registers 0x81-0x8F on the bus.</summary>
    public void Attach(PortBus ports)
    {
        ports.Register(0x00, 16, this);
        ports.Register(0x81, 15, this);
        ports.Register(0xC0, 32, this);
    }

    /// <summary>Wires a device's DREQ/DACK pair to <paramref name="channel"/> (0-7).</summary>
    public void Connect(int channel, IDmaClient client)
    {
        CheckChannel(channel);
        if (_clients[channel] is { } other && other != client)
            throw new InvalidOperationException($"DMA channel {channel} is already connected to {other.GetType().Name}");
        _clients[channel] = client;
    }

    /// <summary>Asserts or releases DREQ. An asserted request on an unmasked, enabled channel is serviced at once.</summary>
    public void SetRequest(int channel, bool asserted)
    {
        CheckChannel(channel);
        _channels[channel].Request = asserted;
        if (asserted) RunPending();
    }

    public DmaTransferType TransferType(int channel)
    {
        CheckChannel(channel);
        return (DmaTransferType)((_channels[channel].Mode >> 2) & 3);
    }

    /// <summary>Bytes the channel will still move before terminal count.</summary>
    public int RemainingBytes(int channel)
    {
        CheckChannel(channel);
        int units = _channels[channel].CurrentCount + 1;
        return channel >= 4 ? units * 2 : units;
    }

    /// <summary>
    /// Device → memory on a WriteToMemory (or Verify) channel. Returns the bytes consumed; stops early at
    /// terminal count, which it reports so the device can end its command (the TC pin of the ISA bus).
    /// </summary>
    public int WriteMemory(int channel, ReadOnlySpan<byte> data, out bool terminalCount)
    {
        CheckChannel(channel);
        terminalCount = false;
        var type = TransferType(channel);
        if (type != DmaTransferType.WriteToMemory && type != DmaTransferType.Verify) return 0;
        int done = 0;
        while (!terminalCount && NextRun(channel, data.Length - done, out ulong address, out int bytes))
        {
            if (type != DmaTransferType.Verify) _memory.WritePhysical(address, data.Slice(done, bytes));
            terminalCount = Advance(channel, bytes);
            done += bytes;
        }
        return done;
    }

    /// <summary>Memory → device on a ReadFromMemory (or Verify, which yields zeroes) channel; see <see cref="WriteMemory"/>.</summary>
    public int ReadMemory(int channel, Span<byte> destination, out bool terminalCount)
    {
        CheckChannel(channel);
        terminalCount = false;
        var type = TransferType(channel);
        if (type != DmaTransferType.ReadFromMemory && type != DmaTransferType.Verify) return 0;
        int done = 0;
        while (!terminalCount && NextRun(channel, destination.Length - done, out ulong address, out int bytes))
        {
            if (type == DmaTransferType.Verify) destination.Slice(done, bytes).Clear();
            else _memory.ReadPhysical(address, destination.Slice(done, bytes));
            terminalCount = Advance(channel, bytes);
            done += bytes;
        }
        return done;
    }

    /// <summary>True while the channel may run cycles: controller enabled, channel (and the cascade) unmasked.</summary>
    public bool IsActive(int channel)
    {
        CheckChannel(channel);
        ref var c = ref _controllers[channel >> 2];
        if ((c.Command & 0x04) != 0) return false;
        // The cascade (channel 4) is not modelled as a gate on DMA1, as in QEMU's i8257: a BIOS that never
        // unmasks channel 4 still gets floppy DMA.
        return (c.Mask & (1 << (channel & 3))) == 0;
    }

    // The next block copy: up to terminal count and without the 16-bit address counter wrapping
    // (the page register does not carry, AT technical reference). Decrement mode moves one unit at a time.
    private bool NextRun(int channel, int wantedBytes, out ulong address, out int bytes)
    {
        ref var ch = ref _channels[channel];
        bool wide = channel >= 4;
        int unit = wide ? 2 : 1;
        address = 0; bytes = 0;
        if (!IsActive(channel) || wantedBytes < unit) return false;
        int units = Math.Min(wantedBytes / unit, ch.CurrentCount + 1);
        units = Decrementing(ref ch) ? 1 : Math.Min(units, 0x10000 - ch.CurrentAddress);
        address = PhysicalAddress(ref ch, wide);
        bytes = units * unit;
        return true;
    }

    private static bool Decrementing(ref Channel ch) => (ch.Mode & 0x20) != 0;

    // 8-bit channels: page supplies A23-A16. 16-bit channels: the address counts words, page bit 0 is ignored (AT technical reference).
    private static ulong PhysicalAddress(ref Channel ch, bool wide) =>
        wide ? ((ulong)(ch.Page & 0xFE) << 16) | ((ulong)ch.CurrentAddress << 1)
             : ((ulong)ch.Page << 16) | ch.CurrentAddress;

    private bool Advance(int channel, int bytes)
    {
        ref var ch = ref _channels[channel];
        int units = channel >= 4 ? bytes / 2 : bytes;
        ch.CurrentAddress = (ushort)(Decrementing(ref ch) ? ch.CurrentAddress - units : ch.CurrentAddress + units);
        int remaining = ch.CurrentCount - units;
        if (remaining >= 0) { ch.CurrentCount = (ushort)remaining; return false; }
        // Count rolled past zero: terminal count. Autoinitialize reloads the base registers (mode bit 4).
        ch.CurrentCount = 0xFFFF;
        _controllers[channel >> 2].Status |= (byte)(1 << (channel & 3));
        if ((ch.Mode & 0x10) != 0)
        {
            ch.CurrentAddress = ch.BaseAddress;
            ch.CurrentCount = ch.BaseCount;
        }
        else
        {
            // Without autoinit the channel masks itself at TC (8237A datasheet, "EOP").
            _controllers[channel >> 2].Mask |= (byte)(1 << (channel & 3));
        }
        return true;
    }

    private bool Serviceable(int channel)
    {
        int bit = 1 << (channel & 3);
        return IsActive(channel) && (_channels[channel].Request || (_controllers[channel >> 2].SoftwareRequest & bit) != 0);
    }

    private void RunPending()
    {
        if (_servicing) return;
        _servicing = true;
        try
        {
            for (int i = 0; i < 8; i++)
                if (_clients[i] is { } client && Serviceable(i))
                    client.ServiceDma(this, i);
        }
        finally { _servicing = false; }
    }

    private void MasterClear(int controller)
    {
        ref var c = ref _controllers[controller];
        c.Command = 0; c.Status = 0; c.Temporary = 0; c.FlipFlop = false; c.Mask = 0x0F; c.SoftwareRequest = 0;
    }

    private static void CheckChannel(int channel)
    {
        if ((uint)channel > 7) throw new ArgumentOutOfRangeException(nameof(channel), channel, "DMA channel must be 0..7");
    }

    public uint ReadPort(ushort port, int size)
    {
        uint value = ReadByte(port);
        // Wider accesses read consecutive ports, as the ISA bus splits them.
        for (int i = 1; i < size; i++) value |= (uint)ReadByte((ushort)(port + i)) << (8 * i);
        return value;
    }

    public void WritePort(ushort port, int size, uint value)
    {
        for (int i = 0; i < size; i++) WriteByte((ushort)(port + i), (byte)(value >> (8 * i)));
    }

    private bool Decode(ushort port, out int controller, out int register)
    {
        if (port <= 0x0F) { controller = 0; register = port; return true; }
        if (port >= 0xC0 && port <= 0xDF && (port & 1) == 0) { controller = 1; register = (port - 0xC0) >> 1; return true; }
        controller = register = 0;
        return false;
    }

    private byte ReadByte(ushort port)
    {
        if (port >= 0x81 && port <= 0x8F) return ReadPage(port);
        if (!Decode(port, out int ctl, out int reg)) return 0xFF;
        ref var c = ref _controllers[ctl];
        if (reg < 8)
        {
            ref var ch = ref _channels[ctl * 4 + (reg >> 1)];
            ushort word = (reg & 1) == 0 ? ch.CurrentAddress : ch.CurrentCount;
            byte b = c.FlipFlop ? (byte)(word >> 8) : (byte)word;
            c.FlipFlop = !c.FlipFlop;
            return b;
        }
        switch (reg)
        {
            case 8:
            {
                // Status: TC bits 0-3 (cleared by this read), request bits 4-7.
                byte requests = 0;
                for (int i = 0; i < 4; i++)
                    if (_channels[ctl * 4 + i].Request) requests |= (byte)(0x10 << i);
                byte status = (byte)((c.Status & 0x0F) | requests | (c.SoftwareRequest << 4));
                c.Status &= 0xF0;
                return status;
            }
            case 0x0D: return c.Temporary;
            case 0x0F: return (byte)(0xF0 | c.Mask); // PIIX and later chipsets read back the mask here
            default: return 0xFF;
        }
    }

    private void WriteByte(ushort port, byte value)
    {
        if (port >= 0x81 && port <= 0x8F) { WritePage(port, value); return; }
        if (!Decode(port, out int ctl, out int reg)) return;
        ref var c = ref _controllers[ctl];
        if (reg < 8)
        {
            ref var ch = ref _channels[ctl * 4 + (reg >> 1)];
            bool high = c.FlipFlop;
            c.FlipFlop = !c.FlipFlop;
            if ((reg & 1) == 0)
            {
                ch.BaseAddress = high ? (ushort)((ch.BaseAddress & 0x00FF) | (value << 8)) : (ushort)((ch.BaseAddress & 0xFF00) | value);
                ch.CurrentAddress = ch.BaseAddress;
            }
            else
            {
                ch.BaseCount = high ? (ushort)((ch.BaseCount & 0x00FF) | (value << 8)) : (ushort)((ch.BaseCount & 0xFF00) | value);
                ch.CurrentCount = ch.BaseCount;
            }
            return;
        }
        switch (reg)
        {
            case 0x08: c.Command = value; break;
            case 0x09:
            {
                int bit = 1 << (value & 3);
                if ((value & 4) != 0) c.SoftwareRequest |= (byte)bit; else c.SoftwareRequest &= (byte)~bit;
                break;
            }
            case 0x0A:
            {
                int bit = 1 << (value & 3);
                if ((value & 4) != 0) c.Mask |= (byte)bit; else c.Mask &= (byte)~bit;
                break;
            }
            case 0x0B: _channels[ctl * 4 + (value & 3)].Mode = value; break;
            case 0x0C: c.FlipFlop = false; break;
            case 0x0D: MasterClear(ctl); break;
            case 0x0E: c.Mask = 0; break;
            case 0x0F: c.Mask = (byte)(value & 0x0F); break;
        }
        if (reg is 0x08 or 0x09 or 0x0A or 0x0E or 0x0F) RunPending();
    }

    private byte ReadPage(ushort port)
    {
        int index = port - 0x80;
        for (int ch = 0; ch < 8; ch++)
            if (PagePortOfChannel[ch] == index) return _channels[ch].Page;
        return _extraPages[index];
    }

    private void WritePage(ushort port, byte value)
    {
        int index = port - 0x80;
        for (int ch = 0; ch < 8; ch++)
            if (PagePortOfChannel[ch] == index) { _channels[ch].Page = value; return; }
        _extraPages[index] = value;
    }

    public void SaveState(StateWriter writer)
    {
        foreach (ref var ch in _channels.AsSpan())
        {
            writer.Write(ch.BaseAddress); writer.Write(ch.BaseCount);
            writer.Write(ch.CurrentAddress); writer.Write(ch.CurrentCount);
            writer.Write(ch.Mode); writer.Write(ch.Page); writer.Write(ch.Request);
        }
        foreach (ref var c in _controllers.AsSpan())
        {
            writer.Write(c.Command); writer.Write(c.Status); writer.Write(c.Mask);
            writer.Write(c.Temporary); writer.Write(c.SoftwareRequest); writer.Write(c.FlipFlop);
        }
        writer.WriteBytes(_extraPages);
    }

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var channels = new Channel[8];
        for (int i = 0; i < 8; i++)
        {
            ref var ch = ref channels[i];
            ch.BaseAddress = reader.ReadUInt16(); ch.BaseCount = reader.ReadUInt16();
            ch.CurrentAddress = reader.ReadUInt16(); ch.CurrentCount = reader.ReadUInt16();
            ch.Mode = reader.ReadByte(); ch.Page = reader.ReadByte(); ch.Request = reader.ReadBool();
        }
        var controllers = new Controller[2];
        for (int i = 0; i < 2; i++)
        {
            ref var c = ref controllers[i];
            c.Command = reader.ReadByte(); c.Status = reader.ReadByte(); c.Mask = reader.ReadByte();
            c.Temporary = reader.ReadByte(); c.SoftwareRequest = reader.ReadByte(); c.FlipFlop = reader.ReadBool();
            if (c.Mask > 0x0F || c.SoftwareRequest > 0x0F)
                throw new StateFormatException($"section {SectionId}: controller {i} mask/request out of range");
        }
        var pages = new byte[16];
        reader.ReadBytes(pages);
        channels.CopyTo(_channels, 0);
        controllers.CopyTo(_controllers, 0);
        pages.CopyTo(_extraPages, 0);
    }
}
