namespace MiniVM.Devices.Vga;

/// <summary>
/// The Bochs VBE "DISPI" interface (QEMU vbe_ioport_*): an index port, a data port, and registers for resolution,
/// depth, enable, bank and virtual screen. SeaVGABIOS's bochsvga.c drives it for every VESA mode.
/// </summary>
public sealed partial class VgaDevice
{
    public const ushort VbeIndexPort = 0x1CE;
    public const ushort VbeDataPort = 0x1CF;
    public const ushort VbeDataAliasPort = 0x1D0;

    private const int VbeId = 0, VbeXres = 1, VbeYres = 2, VbeBpp = 3, VbeEnable = 4, VbeBank = 5,
        VbeVirtWidth = 6, VbeVirtHeight = 7, VbeXOffset = 8, VbeYOffset = 9, VbeVideoMemory64K = 10, VbeRegisterCount = 10;

    public const ushort VbeEnabledFlag = 0x01, VbeGetCapsFlag = 0x02, Vbe8BitDacFlag = 0x20, VbeLfbFlag = 0x40, VbeNoClearMemFlag = 0x80;

    /// <summary>Largest mode offered, as Bochs does; SeaVGABIOS drops larger modes from its list.</summary>
    public const int VbeMaxXres = 2560, VbeMaxYres = 1600, VbeMaxBpp = 32;

    private ushort _vbeIndex;
    private readonly ushort[] _vbe = new ushort[VbeRegisterCount];
    private bool _dac8Bit;

    private bool VbeEnabled => (_vbe[VbeEnable] & VbeEnabledFlag) != 0;
    private bool Dac8Bit => _dac8Bit;

    private uint ReadVbePort(ushort port, int size)
    {
        uint v = port == VbeIndexPort ? _vbeIndex : ReadVbeData();
        return size == 1 ? v & 0xFF : v;
    }

    private void WriteVbePort(ushort port, int size, uint value)
    {
        ushort v = (ushort)(size == 1 ? value & 0xFF : value & 0xFFFF);
        if (port == VbeIndexPort) _vbeIndex = v;
        else WriteVbeData(v);
    }

    private ushort ReadVbeData()
    {
        if (_vbeIndex == VbeVideoMemory64K) return (ushort)(_vram.Length >> 16);
        if (_vbeIndex >= VbeRegisterCount) return 0;
        // With GETCAPS set, the mode registers report the maxima (bochsvga_setup validates modes with them).
        if ((_vbe[VbeEnable] & VbeGetCapsFlag) != 0)
            switch (_vbeIndex)
            {
                case VbeXres: return VbeMaxXres;
                case VbeYres: return VbeMaxYres;
                case VbeBpp: return VbeMaxBpp;
            }
        return _vbe[_vbeIndex];
    }

    private void WriteVbeData(ushort val)
    {
        switch (_vbeIndex)
        {
            case VbeId:
                if (val is >= 0xB0C0 and <= 0xB0C5) _vbe[VbeId] = val;
                break;
            case VbeXres or VbeYres or VbeBpp or VbeVirtWidth or VbeXOffset or VbeYOffset:
                _vbe[_vbeIndex] = val;
                FixupVbe();
                break;
            case VbeBank:
                {
                    int banks = _vram.Length >> 16;
                    if (_vbe[VbeBpp] == 4) banks >>= 2; // planar: a 64 KiB window covers 256 KiB of memory
                    _vbe[VbeBank] = (ushort)(val & (banks - 1));
                    UpdateMemoryAccess();
                    break;
                }
            case VbeEnable:
                if ((val & VbeEnabledFlag) != 0 && !VbeEnabled)
                {
                    _vbe[VbeVirtWidth] = 0;
                    _vbe[VbeXOffset] = 0;
                    _vbe[VbeYOffset] = 0;
                    _vbe[VbeEnable] = VbeEnabledFlag;
                    FixupVbe();
                    if ((val & VbeNoClearMemFlag) == 0)
                        Array.Clear(_vram, 0, Math.Min(_vram.Length, _vbe[VbeYres] * VbeLineLength));
                }
                else if ((val & VbeEnabledFlag) == 0)
                {
                    _vbe[VbeBank] = 0;
                }
                _dac8Bit = (val & Vbe8BitDacFlag) != 0;
                _vbe[VbeEnable] = val;
                UpdateMemoryAccess();
                break;
        }
    }

    private int VbeBytesPerPixel => (_vbe[VbeBpp] + 7) >> 3;

    /// <summary>Bytes per scan line of the virtual screen; 4-bpp planar modes pack 8 pixels per 4-byte plane word.</summary>
    private int VbeLineLength => _vbe[VbeBpp] == 4 ? _vbe[VbeVirtWidth] >> 1 : _vbe[VbeVirtWidth] * VbeBytesPerPixel;

    /// <summary>
    /// Forces the registers into a mode that fits video memory (QEMU vbe_fixup_regs), so the renderer
    /// and the LFB never index outside it whatever the guest wrote.
    /// </summary>
    private void FixupVbe()
    {
        if (!VbeEnabled) return;
        if (_vbe[VbeBpp] is not (4 or 8 or 15 or 16 or 24 or 32)) _vbe[VbeBpp] = 8;
        int xres = Math.Clamp(_vbe[VbeXres] & ~7, 8, VbeMaxXres);
        int vw = Math.Max(_vbe[VbeVirtWidth] & ~7, xres);
        _vbe[VbeXres] = (ushort)xres;
        _vbe[VbeVirtWidth] = (ushort)vw;
        int line = VbeLineLength;
        int maxY = Math.Min(_vram.Length / line, 0xFFFF);
        int yres = Math.Clamp((int)_vbe[VbeYres], 1, Math.Min(VbeMaxYres, maxY));
        _vbe[VbeYres] = (ushort)yres;
        _vbe[VbeVirtHeight] = (ushort)maxY;
        if (_vbe[VbeXOffset] > vw - xres) _vbe[VbeXOffset] = (ushort)(vw - xres);
        if (_vbe[VbeYOffset] > maxY - yres) _vbe[VbeYOffset] = (ushort)(maxY - yres);
        UpdateMemoryAccess();
    }

    /// <summary>Byte offset in video memory of the first displayed pixel.</summary>
    private int VbeStartOffset => _vbe[VbeBpp] == 4
        ? _vbe[VbeYOffset] * VbeLineLength + (_vbe[VbeXOffset] >> 1)
        : _vbe[VbeYOffset] * VbeLineLength + _vbe[VbeXOffset] * VbeBytesPerPixel;
}
