using System.Buffers.Binary;

namespace MiniVM.Devices.Vga;

/// <summary>
/// Video memory as one flat range (the VBE linear framebuffer behind PCI BAR0). Accesses are plain
/// little-endian loads and stores; anything past the end reads as all ones and is dropped on write.
/// </summary>
internal sealed class VgaLinearFramebuffer(byte[] vram, VgaDevice owner) : IMmioDevice
{
    public uint ReadMmio(ulong offset, int size)
    {
        if (offset > (ulong)(vram.Length - size)) return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
        int o = (int)offset;
        return size switch
        {
            1 => vram[o],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(vram.AsSpan(o)),
            _ => BinaryPrimitives.ReadUInt32LittleEndian(vram.AsSpan(o)),
        };
    }

    public void WriteMmio(ulong offset, int size, uint value)
    {
        if (offset > (ulong)(vram.Length - size)) { owner.NoteWrite(0); return; }
        int o = (int)offset;
        owner.NoteWrite(o + size);
        switch (size)
        {
            case 1: vram[o] = (byte)value; break;
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(vram.AsSpan(o), (ushort)value); break;
            default: BinaryPrimitives.WriteUInt32LittleEndian(vram.AsSpan(o), value); break;
        }
    }
}
