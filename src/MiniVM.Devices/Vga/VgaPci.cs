using System.Numerics;
using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Vga;

/// <summary>
/// The VGA as QEMU's "stdvga" PCI function 1234:1111 (class 0x0300): BAR0 is the prefetchable linear framebuffer
/// over all of video memory, the expansion ROM BAR serves the VGA BIOS (vgabios-stdvga.bin) that SeaBIOS copies
/// to 0xC0000. Both are <see cref="MmioWindow"/>s (<see cref="Lfb"/>, <see cref="RomWindow"/>) that the board maps
/// where the BARs put them.
/// Configuration space is the shared <see cref="PciConfigSpace"/>.
/// </summary>
public sealed class VgaPci : IPciFunction, IMmioMapped, ISnapshottable
{
    public const ushort VendorId = 0x1234, DeviceId = 0x1111;

    private readonly PciConfigSpace _config;

    public VgaPci(VgaDevice vga, ReadOnlySpan<byte> vgaBios, int device = 2)
    {
        if (device is < 0 or > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "PCI device number must be 0..31");
        if (vgaBios.Length > 16 << 20) throw new ArgumentException($"VGA BIOS of {vgaBios.Length} bytes is larger than a 16 MiB expansion ROM", nameof(vgaBios));
        Vga = vga;
        Device = device;
        byte[] rom = vgaBios.ToArray();
        Rom = new ExpansionRom(rom);
        RomSize = rom.Length == 0 ? 0 : Math.Max(2048u, BitOperations.RoundUpToPowerOf2((uint)rom.Length));
        // A BAR is a power of two; video memory that is not leaves the top of the BAR floating high.
        LfbSize = BitOperations.RoundUpToPowerOf2((uint)vga.VramSize);

        // Display controller, VGA-compatible, revision 2 and subsystem 1AF4:1100 as QEMU's stdvga.
        _config = new PciConfigSpace(VendorId, DeviceId, classCode: 0x03, subclass: 0x00, progIf: 0, revision: 0x02);
        _config.DefineBar(0, PciBarKind.Memory32Prefetchable, LfbSize);
        if (RomSize != 0) _config.DefineRomBar(RomSize);
        _config.Written += (_, _) => UpdateMappings();
        Lfb = new MmioWindow(vga.LinearFramebuffer, LfbSize);
        RomWindow = RomSize != 0 ? new MmioWindow(Rom, RomSize) : null;
        MmioWindows = RomWindow is null ? [Lfb] : [Lfb, RomWindow];
    }

    public VgaDevice Vga { get; }
    public int Device { get; }
    public int Function => 0;

    /// <summary>The VGA BIOS image as the expansion ROM BAR shows it (read-only).</summary>
    public IMmioDevice Rom { get; }
    public uint RomSize { get; }
    public uint LfbSize { get; }

    /// <summary>BAR0: the linear framebuffer, decoded while memory decoding is on and BAR0 is set.</summary>
    public MmioWindow Lfb { get; }
    /// <summary>The expansion ROM BAR (none without a VGA BIOS image).</summary>
    public MmioWindow? RomWindow { get; }
    public IReadOnlyList<MmioWindow> MmioWindows { get; }

    public ulong? LfbAddress => Lfb.Address;
    public ulong? RomAddress => RomWindow?.Address;

    public uint ReadConfig(int offset, int size) => _config.Read(offset, size);

    public void WriteConfig(int offset, int size, uint value) => _config.Write(offset, size, value);

    private void UpdateMappings()
    {
        ulong? lfb = _config.MemoryEnabled ? Decoded((uint)_config.GetBarAddress(0), LfbSize) : null;
        ulong? romAt = RomSize != 0 && _config.RomAddress is { } r ? Decoded(r, RomSize) : null;
        Lfb.MoveTo(lfb);
        RomWindow?.MoveTo(romAt);
    }

    /// <summary>
    /// A 32-bit BAR decodes unless it is zero or reaches the top of the 4 GiB space; the latter is what the
    /// all-ones sizing write leaves behind (QEMU pci_bar_address treats it the same way).
    /// </summary>
    private static ulong? Decoded(uint address, uint size) =>
        address == 0 || (ulong)address + size - 1 >= 0xFFFF_FFFFul ? null : address;

    public string SectionId => "vga-pci";
    public int SectionVersion => 1;

    public void SaveState(StateWriter writer) => _config.Save(writer);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _config.Load(reader);
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
