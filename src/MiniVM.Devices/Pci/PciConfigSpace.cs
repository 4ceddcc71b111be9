using System.Buffers.Binary;
using System.Numerics;

namespace MiniVM.Devices.Pci;

/// <summary>How a base address register decodes (PCI Local Bus Specification 3.0 §6.2.5.1).</summary>
public enum PciBarKind
{
    Io,
    Memory32,
    Memory32Prefetchable,
    /// <summary>Occupies this BAR and the next one (upper 32 address bits).</summary>
    Memory64,
    Memory64Prefetchable,
}

/// <summary>
/// A type 0 PCI configuration space (256 bytes) with per-byte write masks and write-one-to-clear status bits,
/// reusable by every PCI function. BARs and the expansion ROM BAR get masks from their size, so writing all ones
/// reads back the size as the PCI specification requires (§6.2.5.1) and firmware can size and place them.
/// Subsystem IDs default to 1AF4:1100 ("Red Hat, QEMU virtual machine"): SeaBIOS checks them on 00.0 to know
/// it runs on QEMU (src/fw/paravirt.c, qemu_detect).
/// </summary>
public sealed class PciConfigSpace
{
    public const int Command = 0x04, Status = 0x06, InterruptLine = 0x3C, InterruptPin = 0x3D, RomBar = 0x30;
    public const ushort CommandIo = 0x0001, CommandMemory = 0x0002, CommandBusMaster = 0x0004,
        CommandInterruptDisable = 0x0400;
    private const ushort StatusInterrupt = 0x0008;

    private readonly byte[] _bytes = new byte[256];
    private readonly byte[] _writeMask = new byte[256];
    private readonly byte[] _clearMask = new byte[256];
    private readonly PciBarKind?[] _barKinds = new PciBarKind?[6];
    private readonly uint[] _barSizes = new uint[6];

    public PciConfigSpace(ushort vendorId, ushort deviceId, byte classCode, byte subclass, byte progIf = 0,
        byte revision = 0, bool multiFunction = false)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(0x00), vendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(0x02), deviceId);
        _bytes[0x08] = revision;
        _bytes[0x09] = progIf;
        _bytes[0x0A] = subclass;
        _bytes[0x0B] = classCode;
        _bytes[0x0E] = (byte)(multiFunction ? 0x80 : 0x00);
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(0x2C), 0x1AF4);
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(0x2E), 0x1100);
        // Command: I/O, memory, bus master, parity response, SERR#, interrupt disable.
        BinaryPrimitives.WriteUInt16LittleEndian(_writeMask.AsSpan(Command), 0x0547);
        // Status error bits are write-one-to-clear.
        BinaryPrimitives.WriteUInt16LittleEndian(_clearMask.AsSpan(Status), 0xF900);
        _writeMask[0x0C] = 0xFF; // cache line size
        _writeMask[0x0D] = 0xFF; // latency timer
        _writeMask[InterruptLine] = 0xFF;
    }

    /// <summary>Raw bytes, for device-specific initial values (registers the guest cannot write stay as set here).</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>Raised after a guest write, with its offset and size, so the device can re-map BARs.</summary>
    public event Action<int, int>? Written;

    /// <summary>Makes <paramref name="length"/> bytes at <paramref name="offset"/> guest-writable under <paramref name="mask"/>.</summary>
    public void SetWritable(int offset, int length, byte mask = 0xFF)
    {
        CheckRange(offset, length);
        _writeMask.AsSpan(offset, length).Fill(mask);
    }

    private static void CheckRange(int offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > 256) throw new ArgumentOutOfRangeException(nameof(offset), $"config range 0x{offset:X}+{length} is outside 256 bytes");
    }

    /// <summary>Interrupt pin: 1 = INTA# .. 4 = INTD#, 0 = none.</summary>
    public void SetInterruptPin(int pin)
    {
        if ((uint)pin > 4) throw new ArgumentOutOfRangeException(nameof(pin), pin, "interrupt pin must be 0..4");
        _bytes[InterruptPin] = (byte)pin;
    }

    /// <summary>Declares BAR <paramref name="index"/> (0..5) of <paramref name="size"/> bytes (a power of two).</summary>
    public void DefineBar(int index, PciBarKind kind, uint size)
    {
        bool is64 = kind is PciBarKind.Memory64 or PciBarKind.Memory64Prefetchable;
        if ((uint)index > 5 || (is64 && index == 5)) throw new ArgumentOutOfRangeException(nameof(index), index, "BAR index must be 0..5 (0..4 for 64-bit)");
        uint min = kind == PciBarKind.Io ? 4u : 16u;
        if (size < min || !BitOperations.IsPow2(size)) throw new ArgumentOutOfRangeException(nameof(size), size, $"BAR size must be a power of two of at least {min}");
        _barKinds[index] = kind;
        _barSizes[index] = size;
        int off = 0x10 + index * 4;
        uint typeBits = kind switch
        {
            PciBarKind.Io => 0x1u,
            PciBarKind.Memory32 => 0x0u,
            PciBarKind.Memory32Prefetchable => 0x8u,
            PciBarKind.Memory64 => 0x4u,
            _ => 0xCu,
        };
        uint lowMask = kind == PciBarKind.Io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u;
        BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(off), typeBits);
        BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(off), ~(size - 1) & lowMask);
        if (is64)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(off + 4), 0);
            BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(off + 4), 0xFFFF_FFFFu);
        }
    }

    /// <summary>Declares the expansion ROM BAR (0x30) of <paramref name="size"/> bytes (power of two, at least 2 KiB).</summary>
    public void DefineRomBar(uint size)
    {
        if (size < 2048 || !BitOperations.IsPow2(size)) throw new ArgumentOutOfRangeException(nameof(size), size, "ROM size must be a power of two of at least 2048");
        BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(RomBar), (~(size - 1) & 0xFFFF_F800u) | 1u);
    }

    public ushort CommandRegister => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(Command));
    public bool IoEnabled => (CommandRegister & CommandIo) != 0;
    public bool MemoryEnabled => (CommandRegister & CommandMemory) != 0;
    public bool BusMasterEnabled => (CommandRegister & CommandBusMaster) != 0;
    public bool InterruptDisabled => (CommandRegister & CommandInterruptDisable) != 0;

    /// <summary>Base address programmed in BAR <paramref name="index"/> (type bits removed; 64-bit BARs combined).</summary>
    public ulong GetBarAddress(int index)
    {
        if ((uint)index > 5 || _barKinds[index] is not { } kind) throw new ArgumentOutOfRangeException(nameof(index), index, "BAR is not defined");
        int off = 0x10 + index * 4;
        uint low = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(off));
        if (kind == PciBarKind.Io) return low & 0xFFFF_FFFCu;
        ulong address = low & 0xFFFF_FFF0u;
        if (kind is PciBarKind.Memory64 or PciBarKind.Memory64Prefetchable)
            address |= (ulong)BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(off + 4)) << 32;
        return address;
    }

    public uint GetBarSize(int index) => (uint)index <= 5 ? _barSizes[index] : 0;

    /// <summary>Where the expansion ROM is decoded, or null while its enable bit or memory decoding is off.</summary>
    public uint? RomAddress
    {
        get
        {
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(RomBar));
            return (v & 1) != 0 && MemoryEnabled ? v & 0xFFFF_F800u : null;
        }
    }

    /// <summary>Status bit 3 (interrupt status), which the device sets while it asserts INTx.</summary>
    public void SetInterruptStatus(bool asserted)
    {
        ushort s = BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(Status));
        s = asserted ? (ushort)(s | StatusInterrupt) : (ushort)(s & ~StatusInterrupt);
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(Status), s);
    }

    /// <summary>A configuration read; accesses outside the space read as all ones.</summary>
    public uint Read(int offset, int size)
    {
        if (offset < 0 || size is not (1 or 2 or 4) || offset + size > 256) return size >= 4 ? 0xFFFF_FFFFu : (1u << (8 * size)) - 1;
        uint value = 0;
        for (int i = 0; i < size; i++) value |= (uint)_bytes[offset + i] << (8 * i);
        return value;
    }

    /// <summary>A configuration write under the write masks; read-only bits keep their value.</summary>
    public void Write(int offset, int size, uint value)
    {
        if (offset < 0 || size is not (1 or 2 or 4) || offset + size > 256) return;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            byte v = (byte)(value >> (8 * i));
            byte b = (byte)((_bytes[o] & ~_writeMask[o]) | (v & _writeMask[o]));
            b &= (byte)~(v & _clearMask[o]);
            _bytes[o] = b;
        }
        Written?.Invoke(offset, size);
    }

    public void Save(StateWriter writer) => writer.WriteBytes(_bytes);

    /// <summary>Restores the bytes; identity registers must match this device, or the section belongs to another one.</summary>
    public void Load(StateReader reader)
    {
        var bytes = new byte[256];
        reader.ReadBytes(bytes);
        if (!bytes.AsSpan(0, 4).SequenceEqual(_bytes.AsSpan(0, 4)))
            throw new StateFormatException($"section {reader.SectionId}: PCI ID {BinaryPrimitives.ReadUInt16LittleEndian(bytes):X4}:{BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2)):X4} does not match this device");
        bytes.CopyTo(_bytes, 0);
    }
}
