using System.Buffers.Binary;

namespace MiniVM.Devices.Vga;

/// <summary>The CPU's view of video memory through the 0xA0000–0xBFFFF window (QEMU vga_mem_readb/writeb).</summary>
public sealed partial class VgaDevice
{
    private enum WriteKind : byte { Chain4, OddEven, Planar }

    // Cached from GR6, SR4, GR5 and VBE on every register write so the per-access path is a few compares.
    private uint _windowStart;
    private uint _windowLength;
    private uint _bankOffset;
    private WriteKind _writeKind;
    private WriteKind _readKind;
    private uint _latch;
    /// <summary>How far into video memory a write through the window can land with the current mapping (planar
    /// writes spread an address over four bytes); what a write raises <see cref="_vramTop"/> to.</summary>
    private int _windowReach;

    /// <summary>Four copies of each bit of a nibble: plane n's byte is 0xFF when bit n is set.</summary>
    private static readonly uint[] PlaneMask = BuildPlaneMask();

    private static uint[] BuildPlaneMask()
    {
        var m = new uint[16];
        for (int i = 0; i < 16; i++)
            m[i] = ((i & 1) != 0 ? 0xFFu : 0) | ((i & 2) != 0 ? 0xFF00u : 0) | ((i & 4) != 0 ? 0xFF0000u : 0) | ((i & 8) != 0 ? 0xFF000000u : 0);
        return m;
    }

    private void UpdateMemoryAccess()
    {
        switch ((_gc[6] >> 2) & 3)
        {
            case 0: _windowStart = 0; _windowLength = 0x20000; break;
            case 1: _windowStart = 0; _windowLength = 0x10000; break;
            case 2: _windowStart = 0x10000; _windowLength = 0x8000; break;
            default: _windowStart = 0x18000; _windowLength = 0x8000; break;
        }
        // The VBE bank only moves the 64 KiB window at 0xA0000 (memory map 1), as in QEMU.
        _bankOffset = VbeEnabled && ((_gc[6] >> 2) & 3) == 1 ? (uint)_vbe[VbeBank] << 16 : 0;
        // Packed VBE modes are chain-4 whatever SR4 says (QEMU's sr_vbe); 4-bpp VBE stays planar.
        bool chain4 = (_seq[4] & 0x08) != 0 || (VbeEnabled && _vbe[VbeBpp] != 4);
        _writeKind = chain4 ? WriteKind.Chain4 : (_seq[4] & 0x04) == 0 ? WriteKind.OddEven : WriteKind.Planar;
        _readKind = chain4 ? WriteKind.Chain4 : (_gc[5] & 0x10) != 0 ? WriteKind.OddEven : WriteKind.Planar;
        _windowReach = (int)Math.Min(_vram.Length, 4L * (_bankOffset + _windowLength) + 4);
    }

    public uint ReadMmio(ulong offset, int size)
    {
        uint v = ReadByte(offset);
        if (size == 1) return v;
        v |= (uint)ReadByte(offset + 1) << 8;
        if (size == 2) return v;
        return v | (uint)ReadByte(offset + 2) << 16 | (uint)ReadByte(offset + 3) << 24;
    }

    public void WriteMmio(ulong offset, int size, uint value)
    {
        Writes++;
        if (_windowReach > _vramTop) _vramTop = _windowReach;
        // Fast path for the commonest guest write there is: a character+attribute word in text mode.
        if (size == 2 && _writeKind == WriteKind.OddEven && (offset & 1) == 0)
        {
            ulong rel = offset - _windowStart;
            if (rel < _windowLength)
            {
                int page = _gc[4] & 2, mask = _seq[2];
                uint i = ((((uint)rel + _bankOffset) >> 1) << 2) | (uint)page;
                var vram = _vram;
                if (i + 1 < (uint)vram.Length)
                {
                    if ((mask & (1 << page)) != 0) vram[i] = (byte)value;
                    if ((mask & (2 << page)) != 0) vram[i + 1] = (byte)(value >> 8);
                }
            }
            return;
        }
        WriteByte(offset, (byte)value);
        if (size == 1) return;
        WriteByte(offset + 1, (byte)(value >> 8));
        if (size == 2) return;
        WriteByte(offset + 2, (byte)(value >> 16));
        WriteByte(offset + 3, (byte)(value >> 24));
    }

    private byte ReadByte(ulong offset)
    {
        ulong rel = offset - _windowStart;
        if (rel >= _windowLength) return 0xFF;
        uint addr = (uint)rel + _bankOffset;
        switch (_readKind)
        {
            case WriteKind.Chain4:
                return addr < (uint)_vram.Length ? _vram[addr] : (byte)0xFF;
            case WriteKind.OddEven:
                {
                    uint i = ((addr >> 1) << 2) | (uint)((_gc[4] & 2) | (int)(addr & 1));
                    return i < (uint)_vram.Length ? _vram[i] : (byte)0xFF;
                }
            default:
                {
                    uint i = addr << 2;
                    if (i > (uint)_vram.Length - 4) return 0xFF;
                    _latch = BinaryPrimitives.ReadUInt32LittleEndian(_vram.AsSpan((int)i));
                    if ((_gc[5] & 0x08) == 0) return (byte)(_latch >> ((_gc[4] & 3) * 8));
                    // Read mode 1: a bit is set where every plane selected by "colour don't care" matches "colour compare".
                    uint diff = (_latch ^ PlaneMask[_gc[2] & 0x0F]) & PlaneMask[_gc[7] & 0x0F];
                    diff |= diff >> 16;
                    diff |= diff >> 8;
                    return (byte)~diff;
                }
        }
    }

    private void WriteByte(ulong offset, byte val)
    {
        ulong rel = offset - _windowStart;
        if (rel >= _windowLength) return;
        uint addr = (uint)rel + _bankOffset;
        int mask = _seq[2] & 0x0F;
        switch (_writeKind)
        {
            case WriteKind.Chain4:
                if ((mask & (1 << (int)(addr & 3))) != 0 && addr < (uint)_vram.Length) _vram[addr] = val;
                return;
            case WriteKind.OddEven:
                {
                    // Text-mode path: even addresses go to plane 0 (characters), odd ones to plane 1 (attributes).
                    int plane = (_gc[4] & 2) | (int)(addr & 1);
                    if ((mask & (1 << plane)) == 0) return;
                    uint i = ((addr >> 1) << 2) | (uint)plane;
                    if (i < (uint)_vram.Length) _vram[i] = val;
                    return;
                }
            default:
                WritePlanar(addr, val, mask);
                return;
        }
    }

    private void WritePlanar(uint addr, byte val, int planeEnable)
    {
        uint i = addr << 2;
        if (i > (uint)_vram.Length - 4) return;
        uint v;
        uint bitMask;
        int rotate = _gc[3] & 7;
        switch (_gc[5] & 3)
        {
            case 0:
                {
                    uint b = (byte)((val >> rotate) | (val << (8 - rotate)));
                    v = b * 0x01010101u;
                    uint setMask = PlaneMask[_gc[1] & 0x0F];
                    v = (v & ~setMask) | (PlaneMask[_gc[0] & 0x0F] & setMask);
                    bitMask = _gc[8];
                    break;
                }
            case 1:
                // Write mode 1 copies the latches (screen-to-screen copies); no ALU, no bit mask.
                v = _latch;
                goto store;
            case 2:
                v = PlaneMask[val & 0x0F];
                bitMask = _gc[8];
                break;
            default:
                {
                    uint b = (byte)((val >> rotate) | (val << (8 - rotate)));
                    bitMask = _gc[8] & b;
                    v = PlaneMask[_gc[0] & 0x0F];
                    break;
                }
        }
        switch ((_gc[3] >> 3) & 3)
        {
            case 1: v &= _latch; break;
            case 2: v |= _latch; break;
            case 3: v ^= _latch; break;
        }
        bitMask *= 0x01010101u;
        v = (v & bitMask) | (_latch & ~bitMask);
    store:
        uint writeMask = PlaneMask[planeEnable];
        uint old = BinaryPrimitives.ReadUInt32LittleEndian(_vram.AsSpan((int)i));
        uint result = (old & ~writeMask) | (v & writeMask);
        BinaryPrimitives.WriteUInt32LittleEndian(_vram.AsSpan((int)i), result);
    }
}
