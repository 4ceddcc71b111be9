namespace MiniVM.Devices.Vga;

/// <summary>savevm/loadvm of every register, the DAC, the VBE registers and video memory.</summary>
public sealed partial class VgaDevice : ISnapshottable
{
    public string SectionId => "vga";
    public int SectionVersion => 1;

    public void SaveState(StateWriter w)
    {
        w.Write(_misc); w.Write(_featureControl); w.Write(_st01);
        w.Write(_seqIndex); w.WriteBytes(_seq);
        w.Write(_gcIndex); w.WriteBytes(_gc);
        w.Write(_crtcIndex); w.WriteBytes(_crtc);
        w.Write(_attrIndex); w.Write(_attrExpectsData); w.WriteBytes(_attr);
        w.Write(_pelMask); w.Write(_dacReadIndex); w.Write(_dacWriteIndex); w.Write(_dacSubIndex); w.Write(_dacState);
        w.WriteBytes(_dacCache); w.WriteBytes(_dac);
        w.Write(_latch);
        w.Write(_vbeIndex);
        foreach (ushort r in _vbe) w.Write(r);
        w.Write(_dac8Bit);
        // Only up to the last non-zero 4 KiB page: a text-mode guest has 16 MiB of VRAM but uses ~100 KiB.
        int used = UsedVramLength();
        w.Write(_vram.Length);
        w.Write(used);
        w.WriteBytes(_vram.AsSpan(0, used));
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        _misc = r.ReadByte(); _featureControl = r.ReadByte(); _st01 = r.ReadByte();
        _seqIndex = (byte)(r.ReadByte() & 7); r.ReadBytes(_seq);
        _gcIndex = (byte)(r.ReadByte() & 0x0F); r.ReadBytes(_gc);
        _crtcIndex = r.ReadByte(); r.ReadBytes(_crtc);
        _attrIndex = (byte)(r.ReadByte() & 0x3F); _attrExpectsData = r.ReadBool(); r.ReadBytes(_attr);
        _pelMask = r.ReadByte(); _dacReadIndex = r.ReadByte(); _dacWriteIndex = r.ReadByte();
        _dacSubIndex = r.ReadByte();
        if (_dacSubIndex > 2) throw new StateFormatException($"section {SectionId}: DAC component index {_dacSubIndex} out of range 0..2");
        _dacState = r.ReadByte();
        r.ReadBytes(_dacCache); r.ReadBytes(_dac);
        _latch = r.ReadUInt32();
        _vbeIndex = r.ReadUInt16();
        for (int i = 0; i < _vbe.Length; i++) _vbe[i] = r.ReadUInt16();
        _dac8Bit = r.ReadBool();
        int size = r.ReadInt32();
        if (size != _vram.Length) throw new StateFormatException($"section {SectionId}: saved with {size} bytes of video memory, this VGA has {_vram.Length}");
        int used = r.ReadInt32InRange(0, _vram.Length, "video memory in use");
        r.ReadBytes(_vram.AsSpan(0, used));
        if (_vramTop > used) Array.Clear(_vram, used, _vramTop - used);
        _vramTop = used;
        // Registers could have been edited in the file: re-derive the VBE mode so rendering stays inside VRAM.
        FixupVbe();
        UpdateMemoryAccess();
        Writes++;
    }

    private int UsedVramLength()
    {
        const int page = 4096;
        int end = (int)Math.Min(_vram.Length, ((long)_vramTop + page - 1) & ~(long)(page - 1));
        while (end > 0 && _vram.AsSpan(end - page, page).IndexOfAnyExcept((byte)0) < 0) end -= page;
        return end;
    }
}
