namespace MiniVM.Devices;

/// <summary>
/// One entry of the BIOS memory map (ACPI §15, INT 15h E820) as QEMU passes it in fw_cfg "etc/e820":
/// 20 bytes, little-endian u64 address, u64 length, u32 type.
/// </summary>
public readonly record struct E820Entry(ulong Address, ulong Length, uint Type)
{
    public const uint Ram = 1;
    public const uint Reserved = 2;
    public const int Size = 20;

    public void WriteTo(Span<byte> destination)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(destination, Address);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Type);
    }
}
