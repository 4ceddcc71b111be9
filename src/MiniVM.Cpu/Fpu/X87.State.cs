namespace MiniVM.Cpu.Fpu;

/// <summary>savevm/loadvm of the FPU: a fixed-size record, the tail of the CPU's (versioned with the CPU's section).</summary>
public sealed partial class X87
{
    public void SaveState(BinaryWriter writer)
    {
        writer.Write(controlWord);
        writer.Write(StatusWord);
        writer.Write(emptyMask);
        writer.Write(instructionOffset);
        writer.Write(instructionSelector);
        writer.Write(dataOffset);
        writer.Write(dataSelector);
        writer.Write(lastOpcode);
        for (int physical = 0; physical < 8; physical++)
        {
            writer.Write(registers[physical].Significand);
            writer.Write(registers[physical].SignExponent);
        }
    }

    /// <summary>Loads a record written by <see cref="SaveState"/>; on bad data throws
    /// <see cref="InvalidDataException"/> naming the field and leaves the FPU unchanged.</summary>
    public void LoadState(BinaryReader reader)
    {
        Span<Float80> loaded = stackalloc Float80[8];
        ushort control, status, ipSelector, dpSelector, opcode;
        uint ip, dp;
        byte empty;
        try
        {
            control = reader.ReadUInt16();
            status = reader.ReadUInt16();
            empty = reader.ReadByte();
            ip = reader.ReadUInt32();
            ipSelector = reader.ReadUInt16();
            dp = reader.ReadUInt32();
            dpSelector = reader.ReadUInt16();
            opcode = reader.ReadUInt16();
            for (int physical = 0; physical < 8; physical++)
            {
                ulong significand = reader.ReadUInt64();
                loaded[physical] = new Float80(significand, reader.ReadUInt16());
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("x87 state: record is truncated", e);
        }
        if ((control & 0xE080) != 0 || (control & 0x0040) == 0)
        {
            throw new InvalidDataException($"x87 state: control word 0x{control:X4} has reserved bits wrong");
        }
        if (opcode > 0x7FF)
        {
            throw new InvalidDataException($"x87 state: last opcode 0x{opcode:X4} exceeds 11 bits");
        }
        controlWord = control;
        top = (status >> 11) & 7;
        statusWord = (ushort)(status & ~TopMask);
        emptyMask = empty;
        instructionOffset = ip;
        instructionSelector = ipSelector;
        dataOffset = dp;
        dataSelector = dpSelector;
        lastOpcode = opcode;
        loaded.CopyTo(registers);
        UpdateSummary();
    }
}
