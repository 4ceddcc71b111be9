using System.Buffers.Binary;

namespace MiniVM.Cpu.Fpu;

/// <summary>
/// FNSTENV/FLDENV (14/28 bytes) and FNSAVE/FRSTOR (94/108 bytes) images, SDM vol. 1 §8.1.10 Figures 8-9 to
/// 8-12. Protected-mode images hold selector:offset pointers; real/V86-mode images hold the 20/32-bit linear
/// address (selector × 16 + offset) split around the opcode. Reserved halves of the 32-bit image read as FFFFh.
/// </summary>
public sealed partial class X87
{
    private void StoreEnvironment(IX87Memory memory)
    {
        Span<byte> image = stackalloc byte[28];
        int length = WriteEnvironment(image, memory.Is32BitOperandSize, memory.IsProtectedMode);
        memory.WriteOperand(0, image[..length]);
        // FNSTENV masks every exception after saving, which also clears ES and B (SDM vol. 2 FSTENV).
        controlWord |= 0x3F;
        UpdateSummary();
    }

    private void LoadEnvironment(IX87Memory memory)
    {
        Span<byte> image = stackalloc byte[28];
        int length = memory.Is32BitOperandSize ? 28 : 14;
        memory.ReadOperand(0, image[..length]);
        ReadEnvironment(image, memory.Is32BitOperandSize, memory.IsProtectedMode);
    }

    private void Save(IX87Memory memory)
    {
        Span<byte> image = stackalloc byte[108];
        int length = WriteEnvironment(image, memory.Is32BitOperandSize, memory.IsProtectedMode);
        for (int st = 0; st < 8; st++)
        {
            St(st).Write(image.Slice(length + 10 * st, 10));
        }
        memory.WriteOperand(0, image[..(length + 80)]);
        // FNSAVE leaves the FPU as FNINIT does (SDM vol. 2 FSAVE).
        Initialize();
    }

    private void Restore(IX87Memory memory)
    {
        Span<byte> image = stackalloc byte[108];
        int length = memory.Is32BitOperandSize ? 28 : 14;
        memory.ReadOperand(0, image[..(length + 80)]);
        ReadEnvironment(image, memory.Is32BitOperandSize, memory.IsProtectedMode);
        for (int st = 0; st < 8; st++)
        {
            registers[Physical(st)] = Float80.Read(image.Slice(length + 10 * st, 10));
        }
    }

    private int WriteEnvironment(Span<byte> image, bool is32, bool protectedMode)
    {
        ushort status = StatusWord, tags = TagWord;
        uint instructionLinear = ((uint)instructionSelector << 4) + instructionOffset;
        uint dataLinear = ((uint)dataSelector << 4) + dataOffset;
        if (is32)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(image, 0xFFFF_0000u | controlWord);
            BinaryPrimitives.WriteUInt32LittleEndian(image[4..], 0xFFFF_0000u | status);
            BinaryPrimitives.WriteUInt32LittleEndian(image[8..], 0xFFFF_0000u | tags);
            if (protectedMode)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(image[12..], instructionOffset);
                BinaryPrimitives.WriteUInt32LittleEndian(image[16..], instructionSelector | ((uint)lastOpcode << 16));
                BinaryPrimitives.WriteUInt32LittleEndian(image[20..], dataOffset);
                BinaryPrimitives.WriteUInt32LittleEndian(image[24..], 0xFFFF_0000u | dataSelector);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(image[12..], 0xFFFF_0000u | (instructionLinear & 0xFFFF));
                BinaryPrimitives.WriteUInt32LittleEndian(image[16..], ((instructionLinear >> 16) << 12) | lastOpcode);
                BinaryPrimitives.WriteUInt32LittleEndian(image[20..], 0xFFFF_0000u | (dataLinear & 0xFFFF));
                BinaryPrimitives.WriteUInt32LittleEndian(image[24..], (dataLinear >> 16) << 12);
            }
            return 28;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(image, controlWord);
        BinaryPrimitives.WriteUInt16LittleEndian(image[2..], status);
        BinaryPrimitives.WriteUInt16LittleEndian(image[4..], tags);
        if (protectedMode)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image[6..], (ushort)instructionOffset);
            BinaryPrimitives.WriteUInt16LittleEndian(image[8..], instructionSelector);
            BinaryPrimitives.WriteUInt16LittleEndian(image[10..], (ushort)dataOffset);
            BinaryPrimitives.WriteUInt16LittleEndian(image[12..], dataSelector);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image[6..], (ushort)instructionLinear);
            BinaryPrimitives.WriteUInt16LittleEndian(image[8..], (ushort)((((instructionLinear >> 16) & 0xF) << 12) | lastOpcode));
            BinaryPrimitives.WriteUInt16LittleEndian(image[10..], (ushort)dataLinear);
            BinaryPrimitives.WriteUInt16LittleEndian(image[12..], (ushort)(((dataLinear >> 16) & 0xF) << 12));
        }
        return 14;
    }

    private void ReadEnvironment(ReadOnlySpan<byte> image, bool is32, bool protectedMode)
    {
        int stride = is32 ? 4 : 2;
        ushort control = BinaryPrimitives.ReadUInt16LittleEndian(image);
        ushort status = BinaryPrimitives.ReadUInt16LittleEndian(image[stride..]);
        ushort tags = BinaryPrimitives.ReadUInt16LittleEndian(image[(2 * stride)..]);
        if (is32 && protectedMode)
        {
            instructionOffset = BinaryPrimitives.ReadUInt32LittleEndian(image[12..]);
            uint selectorAndOpcode = BinaryPrimitives.ReadUInt32LittleEndian(image[16..]);
            instructionSelector = (ushort)selectorAndOpcode;
            lastOpcode = (ushort)((selectorAndOpcode >> 16) & 0x7FF);
            dataOffset = BinaryPrimitives.ReadUInt32LittleEndian(image[20..]);
            dataSelector = BinaryPrimitives.ReadUInt16LittleEndian(image[24..]);
        }
        else if (is32)
        {
            uint opcodeAndHigh = BinaryPrimitives.ReadUInt32LittleEndian(image[16..]);
            instructionOffset = BinaryPrimitives.ReadUInt16LittleEndian(image[12..]) | ((opcodeAndHigh >> 12) << 16);
            lastOpcode = (ushort)(opcodeAndHigh & 0x7FF);
            dataOffset = BinaryPrimitives.ReadUInt16LittleEndian(image[20..]) | ((BinaryPrimitives.ReadUInt32LittleEndian(image[24..]) >> 12) << 16);
            instructionSelector = 0;
            dataSelector = 0;
        }
        else if (protectedMode)
        {
            instructionOffset = BinaryPrimitives.ReadUInt16LittleEndian(image[6..]);
            instructionSelector = BinaryPrimitives.ReadUInt16LittleEndian(image[8..]);
            dataOffset = BinaryPrimitives.ReadUInt16LittleEndian(image[10..]);
            dataSelector = BinaryPrimitives.ReadUInt16LittleEndian(image[12..]);
        }
        else
        {
            ushort opcodeAndHigh = BinaryPrimitives.ReadUInt16LittleEndian(image[8..]);
            instructionOffset = BinaryPrimitives.ReadUInt16LittleEndian(image[6..]) | ((uint)(opcodeAndHigh >> 12) << 16);
            lastOpcode = (ushort)(opcodeAndHigh & 0x7FF);
            dataOffset = BinaryPrimitives.ReadUInt16LittleEndian(image[10..]) | ((uint)(BinaryPrimitives.ReadUInt16LittleEndian(image[12..]) >> 12) << 16);
            instructionSelector = 0;
            dataSelector = 0;
        }
        controlWord = (ushort)((control & 0x1F3F) | 0x0040);
        top = (status >> 11) & 7;
        statusWord = (ushort)(status & ~TopMask);
        // Only "empty" is taken from the tag word; other tags are recomputed from the contents, as P6 does.
        byte empty = 0;
        for (int physical = 0; physical < 8; physical++)
        {
            if (((tags >> (2 * physical)) & 3) == 3)
            {
                empty |= (byte)(1 << physical);
            }
        }
        emptyMask = empty;
        UpdateSummary();
    }
}
