using System.Buffers.Binary;

namespace MiniVM.Devices.Storage;

/// <summary>
/// One Physical Region Descriptor of an IDE bus-master table (SFF-8038i §1.2, Intel 82371SB §2.7.3): a dword
/// aligned table of 8-byte entries, buffer address (bit 0 ignored), byte count (0 = 64 KiB, bit 0 ignored), and
/// End Of Table in bit 31 of the second dword. Parsed and checked against guest RAM before any byte moves.
/// </summary>
public readonly record struct PrdEntry(uint Address, int Length, bool EndOfTable)
{
    public const int Size = 8;

    /// <summary>The table may not cross a 64 KiB boundary (SFF-8038i §1.2), which also bounds a table without EOT.</summary>
    public const int TableBoundary = 0x10000;

    public static PrdEntry Parse(ReadOnlySpan<byte> raw)
    {
        uint address = BinaryPrimitives.ReadUInt32LittleEndian(raw) & ~1u;
        uint control = BinaryPrimitives.ReadUInt32LittleEndian(raw[4..]);
        int length = (int)(control & 0xFFFE);
        return new PrdEntry(address, length == 0 ? 0x10000 : length, (control & 0x8000_0000) != 0);
    }

    /// <summary>Why this entry cannot be used with a guest of <paramref name="ramSize"/> bytes, or null when it can.</summary>
    public string? Problem(long ramSize) =>
        Address + (long)Length > ramSize ? $"PRD buffer 0x{Address:X8}+{Length} is outside guest RAM ({ramSize} bytes)" : null;
}
