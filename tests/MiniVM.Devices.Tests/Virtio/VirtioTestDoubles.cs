using MiniVM.Block;
using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Virtio;

/// <summary>Guest RAM that fails the test the moment a device touches a byte outside it.</summary>
internal sealed class StrictGuestMemory(int size) : IGuestMemory
{
    public byte[] Bytes { get; } = new byte[size];
    public long RamSize => Bytes.Length;

    private void Check(ulong address, int length)
    {
        if (address > (ulong)Bytes.Length || (ulong)length > (ulong)Bytes.Length - address)
            throw new InvalidOperationException($"device accessed 0x{address:X}+{length} outside {Bytes.Length} bytes of RAM");
    }

    public void ReadPhysical(ulong address, Span<byte> destination)
    {
        Check(address, destination.Length);
        Bytes.AsSpan((int)address, destination.Length).CopyTo(destination);
    }

    public void WritePhysical(ulong address, ReadOnlySpan<byte> source)
    {
        Check(address, source.Length);
        source.CopyTo(Bytes.AsSpan((int)address));
    }
}

/// <summary>A level-triggered interrupt input: what the PIIX3 PIRQ sees.</summary>
internal sealed class LevelIrq : IIrqLine
{
    public bool Level { get; private set; }
    public void SetLevel(bool asserted) => Level = asserted;
}

/// <summary>A byte-array disk that records flushes, discards and zero writes, filled with a per-offset pattern.</summary>
internal sealed class RecordingDisk : IBlockDriver
{
    public RecordingDisk(int size, bool readOnly = false)
    {
        Bytes = new byte[size];
        for (int i = 0; i < size; i++) Bytes[i] = Pattern(i);
        IsReadOnly = readOnly;
    }

    public static byte Pattern(long offset) => (byte)((offset >> 9) * 7 + (offset & 511) * 13 + 1);

    public byte[] Bytes { get; }
    public int Flushes { get; private set; }
    public List<(long Offset, long Length)> Discards { get; } = new();
    public List<(long Offset, long Length)> ZeroWrites { get; } = new();

    public string FormatName => "test";
    public string FileName => "recording.img";
    public long Size => Bytes.Length;
    public bool IsReadOnly { get; }

    public void Read(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset + buffer.Length > Bytes.Length) throw new ArgumentOutOfRangeException(nameof(offset));
        Bytes.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (IsReadOnly) throw new InvalidOperationException("write to a read-only disk");
        if (offset < 0 || offset + data.Length > Bytes.Length) throw new ArgumentOutOfRangeException(nameof(offset));
        data.CopyTo(Bytes.AsSpan((int)offset));
    }

    public void Flush() => Flushes++;
    public Extent GetBlockStatus(long offset, long maxLength) => new(offset, Math.Min(maxLength, Size - offset), ExtentKind.Data);

    public void WriteZeroes(long offset, long length)
    {
        ZeroWrites.Add((offset, length));
        Bytes.AsSpan((int)offset, (int)length).Clear();
    }

    public void Discard(long offset, long length) => Discards.Add((offset, length));
    public void Dispose() { }
}
