using System.Buffers.Binary;

namespace MiniVM.Devices.Vga;

/// <summary>
/// The VGA as QEMU's "stdvga" PCI function 1234:1111 (class 0x0300): BAR0 is the prefetchable linear framebuffer
/// over all of video memory, the expansion ROM BAR serves the VGA BIOS (vgabios-stdvga.bin) that SeaBIOS copies
/// to 0xC0000. The machine maps <see cref="VgaDevice.LinearFramebuffer"/> and <see cref="Rom"/> where
/// <see cref="LfbMoved"/> / <see cref="RomMoved"/> say, and unmaps them on null.
/// </summary>
/// <remarks>Keeps its own small configuration space (header type 0) with per-byte write masks.</remarks>
public sealed class VgaPci : IPciFunction, ISnapshottable
{
    public const ushort VendorId = 0x1234, DeviceId = 0x1111;
    private const int Bar0 = 0x10, RomBar = 0x30, Command = 0x04;

    private readonly byte[] _config = new byte[256];
    private readonly byte[] _writeMask = new byte[256];
    private readonly byte[] _rom;

    public VgaPci(VgaDevice vga, ReadOnlySpan<byte> vgaBios, int device = 2)
    {
        if (device is < 0 or > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "PCI device number must be 0..31");
        if (vgaBios.Length > 16 << 20) throw new ArgumentException($"VGA BIOS of {vgaBios.Length} bytes is larger than a 16 MiB expansion ROM", nameof(vgaBios));
        Vga = vga;
        Device = device;
        _rom = vgaBios.ToArray();
        Rom = new ExpansionRom(_rom);
        RomSize = _rom.Length == 0 ? 0 : Math.Max(2048u, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)_rom.Length));
        LfbSize = (uint)vga.VramSize;

        BinaryPrimitives.WriteUInt16LittleEndian(_config, VendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(2), DeviceId);
        _config[0x08] = 0x02;             // revision, as QEMU's stdvga
        _config[0x0B] = 0x03;             // class: display controller, subclass VGA-compatible (0x00), prog-if 0
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x2C), 0x1AF4); // subsystem vendor (QEMU)
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x2E), 0x1100);
        _config[Bar0] = 0x08;             // 32-bit memory BAR, prefetchable

        _writeMask[Command] = 0x07;       // I/O space, memory space, bus master
        _writeMask[0x0C] = 0xFF;          // cache line size
        _writeMask[0x0D] = 0xFF;          // latency timer
        _writeMask[0x3C] = 0xFF;          // interrupt line
        // A BAR's writable bits are the address bits above its size: writing all ones reads back the size.
        BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(Bar0), ~(LfbSize - 1) & 0xFFFF_FFF0u);
        if (RomSize != 0)
            BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(RomBar), (~(RomSize - 1) & 0xFFFF_F800u) | 1u);
    }

    public VgaDevice Vga { get; }
    public int Device { get; }
    public int Function => 0;

    /// <summary>The VGA BIOS image as the expansion ROM BAR shows it (read-only).</summary>
    public IMmioDevice Rom { get; }
    public uint RomSize { get; }
    public uint LfbSize { get; }

    /// <summary>Where the linear framebuffer is decoded now, or null while memory decoding is off or BAR0 unset.</summary>
    public ulong? LfbAddress { get; private set; }
    public ulong? RomAddress { get; private set; }

    /// <summary>Raised with the new LFB address (null = unmapped) whenever the guest changes BAR0 or the command register.</summary>
    public event Action<ulong?>? LfbMoved;
    public event Action<ulong?>? RomMoved;

    public uint ReadConfig(int offset, int size)
    {
        if (!ValidAccess(offset, size)) return 0xFFFF_FFFFu;
        uint v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | _config[offset + i];
        return v;
    }

    public void WriteConfig(int offset, int size, uint value)
    {
        if (!ValidAccess(offset, size)) return;
        for (int i = 0; i < size; i++, value >>= 8)
        {
            int o = offset + i;
            _config[o] = (byte)((_config[o] & ~_writeMask[o]) | ((byte)value & _writeMask[o]));
        }
        UpdateMappings();
    }

    private static bool ValidAccess(int offset, int size) =>
        size is 1 or 2 or 4 && offset >= 0 && offset + size <= 256 && (offset & (size - 1)) == 0;

    private void UpdateMappings()
    {
        bool memory = (_config[Command] & 0x02) != 0;
        uint bar0 = BinaryPrimitives.ReadUInt32LittleEndian(_config.AsSpan(Bar0)) & 0xFFFF_FFF0u;
        ulong? lfb = memory ? Decoded(bar0, LfbSize) : null;
        uint rom = BinaryPrimitives.ReadUInt32LittleEndian(_config.AsSpan(RomBar));
        ulong? romAt = memory && RomSize != 0 && (rom & 1) != 0 ? Decoded(rom & 0xFFFF_F800u, RomSize) : null;
        if (lfb != LfbAddress) { LfbAddress = lfb; LfbMoved?.Invoke(lfb); }
        if (romAt != RomAddress) { RomAddress = romAt; RomMoved?.Invoke(romAt); }
    }

    /// <summary>
    /// A 32-bit BAR decodes unless it is zero or reaches the top of the 4 GiB space; the latter is what the
    /// all-ones sizing write leaves behind (QEMU pci_bar_address treats it the same way).
    /// </summary>
    private static ulong? Decoded(uint address, uint size) =>
        address == 0 || (ulong)address + size - 1 >= 0xFFFF_FFFFul ? null : address;

    public string SectionId => "vga-pci";
    public int SectionVersion => 1;

    public void SaveState(StateWriter writer) => writer.WriteBytes(_config);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var saved = new byte[256];
        reader.ReadBytes(saved);
        // Only guest-writable bits come from the file; identity registers stay this device's.
        for (int i = 0; i < 256; i++) _config[i] = (byte)((_config[i] & ~_writeMask[i]) | (saved[i] & _writeMask[i]));
        UpdateMappings();
    }

    private sealed class ExpansionRom(byte[] image) : IMmioDevice
    {
        public uint ReadMmio(ulong offset, int size)
        {
            uint v = 0;
            for (int i = size - 1; i >= 0; i--)
            {
                ulong o = offset + (ulong)i;
                v = (v << 8) | (o < (ulong)image.Length ? image[o] : 0u);
            }
            return v;
        }

        public void WriteMmio(ulong offset, int size, uint value) { } // ROM: writes are ignored
    }
}
