namespace MiniVM.Devices.Pci;

/// <summary>
/// PCI configuration mechanism #1 (PCI Local Bus Specification 3.0 §3.2.2.3.2) on ports 0xCF8 (CONFIG_ADDRESS,
/// 32-bit accesses only) and 0xCFC-0xCFF (CONFIG_DATA), bus 0 only, and the Intel 440FX PMC host bridge itself
/// as function 00.0 (8086:1237). The 440FX's PAM registers 0x59-0x5F choose, per BIOS-area segment, whether reads
/// and writes go to RAM or to the ROM/PCI side (82441FX datasheet §3.2.18); SMRAM (0x72) opens the A0000-BFFFF
/// window to RAM. The machine re-maps memory on <see cref="PamChanged"/> and <see cref="SmramChanged"/>.
/// </summary>
public sealed class PciHostBridge : IPortDevice, IPciFunction, ISnapshottable, IPortMapped, IResettable, IPciBus
{
    /// <summary>Number of PAM segments: 0 is F0000-FFFFF (64 KiB), 1..12 are 16 KiB from C0000 to EFFFF.</summary>
    public const int PamRegionCount = 13;
    private const int PamBase = 0x59, Smram = 0x72;
    private const byte SmramOpen = 0x40, SmramClose = 0x20, SmramLock = 0x10, SmramEnable = 0x08, SmramBaseSeg = 0x02;

    private readonly IPciFunction?[] _functions = new IPciFunction?[32 * 8];
    private readonly PciConfigSpace _config;
    private uint _address;

    public PciHostBridge()
    {
        _config = new PciConfigSpace(0x8086, 0x1237, classCode: 0x06, subclass: 0x00, revision: 0x02);
        _config.Bytes[0x06] = 0x80; // status: fast back-to-back capable
        _config.Bytes[Smram] = SmramBaseSeg;
        _config.SetWritable(0x50, 0x22); // PMCCFG, DRAM control, PAM, DRB: plain registers
        _config.SetWritable(Smram, 1, 0x00); // SMRAM has its own write rules (WriteConfig)
        _functions[0] = this;
    }

    /// <summary>A PAM segment changed: reads from RAM (else ROM/PCI), writes to RAM (else dropped/forwarded).</summary>
    public event Action<int, bool, bool>? PamChanged;

    /// <summary>The SMRAM D_OPEN bit changed: true = A0000-BFFFF shows RAM instead of the VGA window.</summary>
    public event Action<bool>? SmramChanged;

    public int Device => 0;
    public int Function => 0;
    public string SectionId => "i440fx";
    public int SectionVersion => 1;

    public PciConfigSpace Config => _config;

    public bool SmramOpened => (_config.Bytes[Smram] & SmramOpen) != 0;

    public void Attach(PortBus ports)
    {
        // 0xCF9 is the PIIX3 reset control register: only the dword CONFIG_ADDRESS lives at 0xCF8.
        ports.Register(0xCF8, 1, this);
        ports.Register(0xCFC, 4, this);
    }

    /// <summary>Puts a function on bus 0; its slot must be free.</summary>
    public void AddFunction(IPciFunction function)
    {
        if ((uint)function.Device > 31 || (uint)function.Function > 7)
            throw new ArgumentOutOfRangeException(nameof(function), $"PCI address {function.Device:X2}.{function.Function} is outside bus 0");
        int slot = function.Device * 8 + function.Function;
        if (_functions[slot] is { } other)
            throw new InvalidOperationException($"PCI {function.Device:X2}.{function.Function} is already taken by {other.GetType().Name}");
        _functions[slot] = function;
    }

    /// <summary>Start and length of PAM segment <paramref name="region"/>.</summary>
    public static (uint Start, uint Length) PamRegion(int region)
    {
        if ((uint)region >= PamRegionCount) throw new ArgumentOutOfRangeException(nameof(region), region, "PAM region must be 0..12");
        return region == 0 ? (0xF0000u, 0x10000u) : (0xC0000u + (uint)(region - 1) * 0x4000u, 0x4000u);
    }

    /// <summary>The current attribute of PAM segment <paramref name="region"/>.</summary>
    public (bool ReadRam, bool WriteRam) GetPam(int region)
    {
        int attr = PamAttribute(_config.Bytes, region);
        return ((attr & 1) != 0, (attr & 2) != 0);
    }

    private static int PamAttribute(ReadOnlySpan<byte> config, int region)
    {
        if (region == 0) return config[PamBase] >> 4;
        int reg = PamBase + 1 + (region - 1) / 2;
        return (region - 1) % 2 == 0 ? config[reg] & 0x3 : (config[reg] >> 4) & 0x3;
    }

    public void Reset()
    {
        var before = _config.Bytes[PamBase..(PamBase + 7)].ToArray();
        bool wasOpen = SmramOpened;
        _config.Bytes.Slice(0x50, 0x22).Clear();
        _config.Bytes[Smram] = SmramBaseSeg;
        _config.Bytes[0x04] = 0;
        _address = 0;
        RaisePamChanges(before);
        if (wasOpen) SmramChanged?.Invoke(false);
    }

    public uint ReadPort(ushort port, int size)
    {
        if (port == 0xCF8) return size == 4 ? _address : AllOnes(size);
        if (!TryTarget(port, size, out var function, out int offset)) return AllOnes(size);
        return function.ReadConfig(offset, size);
    }

    public void WritePort(ushort port, int size, uint value)
    {
        if (port == 0xCF8)
        {
            if (size == 4) _address = value & 0x80FF_FFFCu;
            return;
        }
        if (TryTarget(port, size, out var function, out int offset)) function.WriteConfig(offset, size, value);
    }

    private static uint AllOnes(int size) => size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    private bool TryTarget(ushort port, int size, out IPciFunction function, out int offset)
    {
        function = null!;
        offset = (int)(_address & 0xFC) + (port - 0xCFC);
        if ((_address & 0x8000_0000u) == 0 || ((_address >> 16) & 0xFF) != 0 || offset + size > 256) return false;
        int slot = (int)((_address >> 8) & 0xFF); // device << 3 | function
        if (_functions[slot] is not { } f) return false;
        function = f;
        return true;
    }

    public uint ReadConfig(int offset, int size) => _config.Read(offset, size);

    public void WriteConfig(int offset, int size, uint value)
    {
        if (offset < 0 || offset + size > 256) return;
        var before = _config.Bytes[PamBase..(PamBase + 7)].ToArray();
        _config.Write(offset, size, value);
        if (offset <= Smram && Smram < offset + size) WriteSmram((byte)(value >> (8 * (Smram - offset))));
        if (offset < PamBase + 7 && PamBase < offset + size) RaisePamChanges(before);
    }

    /// <summary>82441FX §3.2.21: D_LCK makes D_OPEN zero and the register read-only (but D_CLS) until reset.</summary>
    private void WriteSmram(byte value)
    {
        byte old = _config.Bytes[Smram];
        bool wasOpen = (old & SmramOpen) != 0;
        byte next;
        if ((old & SmramLock) != 0) next = (byte)((old & ~SmramClose) | (value & SmramClose));
        else
        {
            next = (byte)((value & (SmramOpen | SmramClose | SmramLock | SmramEnable)) | SmramBaseSeg);
            if ((next & SmramLock) != 0) next &= unchecked((byte)~SmramOpen);
        }
        _config.Bytes[Smram] = next;
        bool open = (next & SmramOpen) != 0;
        if (open != wasOpen) SmramChanged?.Invoke(open);
    }

    private void RaisePamChanges(ReadOnlySpan<byte> before)
    {
        Span<byte> old = stackalloc byte[256];
        before.CopyTo(old[PamBase..]);
        for (int region = 0; region < PamRegionCount; region++)
        {
            int a = PamAttribute(old, region), b = PamAttribute(_config.Bytes, region);
            if (a != b) PamChanged?.Invoke(region, (b & 1) != 0, (b & 2) != 0);
        }
    }

    public void SaveState(StateWriter writer)
    {
        _config.Save(writer);
        writer.Write(_address);
    }

    /// <summary>Restores registers; the machine then re-reads <see cref="GetPam"/> and <see cref="SmramOpened"/>.</summary>
    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var before = _config.Bytes[PamBase..(PamBase + 7)].ToArray();
        bool wasOpen = SmramOpened;
        _config.Load(reader);
        _address = reader.ReadUInt32() & 0x80FF_FFFCu;
        RaisePamChanges(before);
        if (SmramOpened != wasOpen) SmramChanged?.Invoke(SmramOpened);
    }
}
