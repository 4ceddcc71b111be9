using MiniVM.Cpu;
using MiniVM.Devices.Pci;

namespace MiniVM.Machine;

/// <summary>
/// The 0xC0000–0xFFFFF area under control of the i440FX PAM registers (PCI config 0x59–0x5F). Each of the 13
/// regions reads from RAM or from the PCI side (the BIOS ROM for 0xE0000–0xFFFFF, nothing below), and writes to
/// RAM or nowhere. SeaBIOS starts with everything on the PCI side, copies itself into RAM and then write-protects
/// it, so both sides must be independently switchable (PhysicalMemory.Map has separate read/write sources).
/// </summary>
public sealed class ShadowRom
{
    private readonly PhysicalMemory _memory;
    private readonly byte[] _isaBios;   // the last 128 KiB of the BIOS image, seen at 0xE0000
    private readonly byte[] _empty = CreateEmpty();

    public ShadowRom(PhysicalMemory memory, byte[] bios)
    {
        _memory = memory;
        _isaBios = bios.AsSpan(bios.Length - 0x20000).ToArray();
        for (int i = 0; i < PciHostBridge.PamRegionCount; i++) Set(i, readRam: false, writeRam: false);
    }

    public void Set(int region, bool readRam, bool writeRam)
    {
        var (start, length) = PciHostBridge.PamRegion(region);
        ulong b = start, len = length;
        PageSource read = readRam ? PageSource.Ram((long)b) : RomSide(b);
        PageSource write = writeRam ? PageSource.Ram((long)b) : PageSource.Ignore;
        _memory.Map(b, len, read, write);
    }

    private PageSource RomSide(ulong address) =>
        address >= 0xE0000 ? PageSource.FromArray(_isaBios, (long)(address - 0xE0000)) : PageSource.FromArray(_empty, (long)(address - 0xC0000));

    // Reads of the PCI side below 0xE0000 float high, as on a PC with no option ROM decoded there.
    private static byte[] CreateEmpty()
    {
        var a = new byte[0x20000];
        Array.Fill(a, (byte)0xFF);
        return a;
    }
}
