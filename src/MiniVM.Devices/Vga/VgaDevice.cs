namespace MiniVM.Devices.Vga;

/// <summary>
/// A VGA adapter with the Bochs VBE (DISPI) extension, modelled on QEMU's stdvga (hw/display/vga.c):
/// the standard register files behind ports 0x3B0–0x3DF, the DISPI index/data ports 0x1CE/0x1CF (0x1D0 alias),
/// and video memory whose first 256 KiB double as the four VGA planes. The legacy window 0xA0000–0xBFFFF is
/// this object's <see cref="IMmioDevice"/> face; the linear framebuffer is <see cref="LinearFramebuffer"/>.
/// </summary>
/// <remarks>
/// Plane memory is interleaved the way QEMU keeps it: plane p of planar address a is byte <c>a * 4 + p</c>.
/// Chain-4 (mode 13h and VBE) is then plain linear memory, and text mode keeps character and attribute
/// of cell i in bytes <c>4i</c> and <c>4i + 1</c>.
/// </remarks>
public sealed partial class VgaDevice : IPortDevice, IMmioDevice, IPortMapped, IMmioMapped
{
    public const ulong WindowBase = 0xA0000;
    public const ulong WindowSize = 0x20000;
    public const int DefaultVramSize = 16 << 20;
    /// <summary>Four planes of 64 KiB: the memory a plain VGA has.</summary>
    public const int PlanesSize = 256 * 1024;

    private readonly byte[] _vram;

    private byte _misc;
    private byte _featureControl;
    private byte _st01;

    private byte _seqIndex;
    private readonly byte[] _seq = new byte[8];
    private byte _gcIndex;
    private readonly byte[] _gc = new byte[16];
    private byte _crtcIndex;
    private readonly byte[] _crtc = new byte[256];
    private byte _attrIndex;
    private bool _attrExpectsData;
    private readonly byte[] _attr = new byte[0x20];

    private byte _pelMask = 0xFF;
    private byte _dacReadIndex;
    private byte _dacWriteIndex;
    private byte _dacSubIndex;
    private byte _dacState;
    private readonly byte[] _dacCache = new byte[3];
    private readonly byte[] _dac = new byte[768];

    /// <param name="vramSize">Video memory in bytes: a multiple of 64 KiB from 256 KiB to 256 MiB.</param>
    public VgaDevice(int vramSize = DefaultVramSize)
    {
        if (vramSize < PlanesSize || vramSize > 256 << 20 || vramSize % 0x10000 != 0)
            throw new ArgumentOutOfRangeException(nameof(vramSize), vramSize, "video memory must be a multiple of 64 KiB between 256 KiB and 256 MiB");
        _vram = new byte[vramSize];
        LinearFramebuffer = new VgaLinearFramebuffer(_vram, this);
        UpdateMemoryAccess();
    }

    public int VramSize => _vram.Length;

    /// <summary>
    /// Counts the guest's writes to video memory and VGA registers (and loadvm): while it is unchanged, what the screen
    /// shows (<see cref="DumpText"/>, <see cref="IsTextMode"/>) is unchanged, so a watcher can skip reading it again.
    /// </summary>
    public long Writes { get; private set; }

    /// <summary>A write to video memory through the linear framebuffer, ending at byte <paramref name="end"/>.</summary>
    internal void NoteWrite(int end)
    {
        Writes++;
        if (end > _vramTop) _vramTop = Math.Min(end, _vram.Length);
    }

    /// <summary>
    /// Every byte of video memory at or past this offset is zero: writes raise it, so savevm finds the used part of a
    /// 16 MiB video memory without reading all of it (which cost more than the rest of an idle guest's savevm) and
    /// loadvm clears only what may be non-zero.
    /// </summary>
    private int _vramTop;

    /// <summary>The whole video memory as the LFB BAR exposes it; map it at the address the guest gives BAR0.</summary>
    public IMmioDevice LinearFramebuffer { get; }

    /// <summary>The legacy 0xA0000-0xBFFFF window (what it shows depends on the graphics controller's memory map).</summary>
    public IReadOnlyList<MmioWindow> MmioWindows => field ??= [new MmioWindow(this, (uint)WindowSize, WindowBase)];

    /// <summary>
    /// Registers the VGA and DISPI ports. Only the ports a VGA decodes are taken (as QEMU's vga_ports), so
    /// 0x3BC–0x3BE stay free for a parallel port.
    /// </summary>
    public void Attach(PortBus ports)
    {
        ports.Register(0x3B4, 2, this);
        ports.Register(0x3BA, 1, this);
        ports.Register(0x3C0, 16, this);
        ports.Register(0x3D4, 2, this);
        ports.Register(0x3DA, 1, this);
        ports.Register(VbeIndexPort, 3, this);
    }

    private bool ColourEmulation => (_misc & 1) != 0;

    public uint ReadPort(ushort port, int size)
    {
        if (port is >= VbeIndexPort and <= VbeDataAliasPort) return ReadVbePort(port, size);
        uint v = ReadPortByte(port);
        if (size >= 2) v |= (uint)ReadPortByte((ushort)(port + 1)) << 8;
        if (size == 4) v |= (uint)ReadPortByte((ushort)(port + 2)) << 16 | (uint)ReadPortByte((ushort)(port + 3)) << 24;
        return v;
    }

    public void WritePort(ushort port, int size, uint value)
    {
        Writes++;
        if (port is >= VbeIndexPort and <= VbeDataAliasPort) { WriteVbePort(port, size, value); return; }
        // A word OUT to an index port writes index then data (OUT DX, AX to 0x3C4 is the usual idiom).
        WritePortByte(port, (byte)value);
        if (size >= 2) WritePortByte((ushort)(port + 1), (byte)(value >> 8));
        if (size == 4) { WritePortByte((ushort)(port + 2), (byte)(value >> 16)); WritePortByte((ushort)(port + 3), (byte)(value >> 24)); }
    }

    private byte ReadPortByte(ushort port)
    {
        // The CRTC and input status 1 answer at 0x3Bx or 0x3Dx only, chosen by misc output bit 0.
        if (port is >= 0x3B0 and <= 0x3BF && ColourEmulation) return 0xFF;
        if (port is >= 0x3D0 and <= 0x3DF && !ColourEmulation) return 0xFF;
        switch (port)
        {
            case 0x3C0: return _attrIndex;
            case 0x3C1: { int i = _attrIndex & 0x1F; return i <= 0x14 ? _attr[i] : (byte)0; }
            case 0x3C2: return 0; // input status 0: no switch sense, no CRT interrupt
            case 0x3C4: return _seqIndex;
            case 0x3C5: return _seq[_seqIndex];
            case 0x3C6: return _pelMask;
            case 0x3C7: return _dacState;
            case 0x3C8: return _dacWriteIndex;
            case 0x3C9:
                {
                    byte v = _dac[_dacReadIndex * 3 + _dacSubIndex];
                    if (++_dacSubIndex == 3) { _dacSubIndex = 0; _dacReadIndex++; }
                    return v;
                }
            case 0x3CA: return _featureControl;
            case 0x3CC: return _misc;
            case 0x3CE: return _gcIndex;
            case 0x3CF: return _gc[_gcIndex];
            case 0x3B4 or 0x3D4: return _crtcIndex;
            case 0x3B5 or 0x3D5: return _crtc[_crtcIndex];
            case 0x3BA or 0x3DA:
                // Toggling retrace and display-enable on every read lets the BIOS's "wait for retrace"
                // loops finish without a real beam (QEMU does the same); the read also resets the
                // attribute flip-flop to "index".
                _st01 ^= 0x09;
                _attrExpectsData = false;
                return _st01;
            default: return 0xFF;
        }
    }

    private static readonly byte[] SeqWriteMask = [0x03, 0x3D, 0x0F, 0x3F, 0x0E, 0x00, 0x00, 0xFF];
    private static readonly byte[] GcWriteMask = [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF, 0, 0, 0, 0, 0, 0, 0];

    private void WritePortByte(ushort port, byte val)
    {
        if (port is >= 0x3B0 and <= 0x3BF && ColourEmulation) return;
        if (port is >= 0x3D0 and <= 0x3DF && !ColourEmulation) return;
        switch (port)
        {
            case 0x3C0:
                if (!_attrExpectsData) _attrIndex = (byte)(val & 0x3F);
                else
                {
                    int i = _attrIndex & 0x1F;
                    if (i < 0x10) _attr[i] = (byte)(val & 0x3F);
                    else if (i == 0x10) _attr[i] = (byte)(val & ~0x10);
                    else if (i == 0x11) _attr[i] = val;
                    else if (i == 0x12) _attr[i] = (byte)(val & 0x3F);
                    else if (i == 0x13) _attr[i] = (byte)(val & 0x0F);
                    else if (i == 0x14) _attr[i] = (byte)(val & 0x0F);
                }
                _attrExpectsData = !_attrExpectsData;
                break;
            case 0x3C2: _misc = val; break;
            case 0x3C3: break; // VGA enable: always enabled
            case 0x3C4: _seqIndex = (byte)(val & 7); break;
            case 0x3C5:
                _seq[_seqIndex] = (byte)(val & SeqWriteMask[_seqIndex]);
                UpdateMemoryAccess();
                break;
            case 0x3C6: _pelMask = val; break;
            case 0x3C7: _dacReadIndex = val; _dacSubIndex = 0; _dacState = 3; break;
            case 0x3C8: _dacWriteIndex = val; _dacSubIndex = 0; _dacState = 0; break;
            case 0x3C9:
                _dacCache[_dacSubIndex] = Dac8Bit ? val : (byte)(val & 0x3F);
                if (++_dacSubIndex == 3)
                {
                    int o = _dacWriteIndex * 3;
                    _dac[o] = _dacCache[0]; _dac[o + 1] = _dacCache[1]; _dac[o + 2] = _dacCache[2];
                    _dacSubIndex = 0;
                    _dacWriteIndex++;
                }
                break;
            case 0x3CE: _gcIndex = (byte)(val & 0x0F); break;
            case 0x3CF:
                _gc[_gcIndex] = (byte)(val & GcWriteMask[_gcIndex]);
                UpdateMemoryAccess();
                break;
            case 0x3B4 or 0x3D4: _crtcIndex = val; break;
            case 0x3B5 or 0x3D5: WriteCrtc(val); break;
            case 0x3BA or 0x3DA: _featureControl = (byte)(val & 0x03); break;
        }
    }

    private void WriteCrtc(byte val)
    {
        // CR11 bit 7 write-protects CR0–CR7, except the line-compare bit 4 of CR7.
        if ((_crtc[0x11] & 0x80) != 0 && _crtcIndex <= 7)
        {
            if (_crtcIndex == 7) _crtc[7] = (byte)((_crtc[7] & ~0x10) | (val & 0x10));
            return;
        }
        _crtc[_crtcIndex] = val;
    }
}
