using MiniVM.Block;
using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>An interrupt wire that counts rising edges, the way an edge-triggered PIC input sees them.</summary>
internal sealed class EdgeCountingIrq : IIrqLine
{
    public bool Level { get; private set; }
    public int RisingEdges { get; private set; }

    public void SetLevel(bool asserted)
    {
        if (asserted && !Level) RisingEdges++;
        Level = asserted;
    }
}

/// <summary>Flat guest RAM for bus-master devices; beyond its end reads float high and writes are dropped, as on a bus.</summary>
internal sealed class FlatGuestMemory(int size) : IGuestMemory
{
    public byte[] Bytes { get; } = new byte[size];
    public long RamSize => Bytes.Length;

    public void ReadPhysical(ulong address, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            ulong a = address + (ulong)i;
            destination[i] = a < (ulong)Bytes.Length ? Bytes[a] : (byte)0xFF;
        }
    }

    public void WritePhysical(ulong address, ReadOnlySpan<byte> source)
    {
        if (address >= (ulong)Bytes.Length) return;
        int n = (int)Math.Min((ulong)source.Length, (ulong)Bytes.Length - address);
        source[..n].CopyTo(Bytes.AsSpan((int)address));
    }
}

/// <summary>
/// An in-memory disk: sparse 64 KiB chunks so that a disk beyond LBA28 (128 GiB) costs only what is written.
/// Unwritten bytes read as a pattern derived from the offset, so every sector has distinct content.
/// </summary>
internal sealed class MemoryDisk(long size, bool readOnly = false, string name = "memory.img") : IBlockDriver
{
    private const int Chunk = 65536;
    private readonly Dictionary<long, byte[]> _chunks = new();

    /// <summary>A disk holding <paramref name="content"/> (a guest image read into memory).</summary>
    public static MemoryDisk FromBytes(byte[] content, string name, bool readOnly = false)
    {
        var disk = new MemoryDisk(content.Length, readOnly, name);
        for (long start = 0; start < content.Length; start += Chunk)
        {
            var c = new byte[Chunk];
            content.AsSpan((int)start, (int)Math.Min(Chunk, content.Length - start)).CopyTo(c);
            disk._chunks[start / Chunk] = c;
        }
        return disk;
    }

    public string FormatName => "memory";
    public string FileName => name;
    public long Size => size;
    public bool IsReadOnly => readOnly;
    public int FlushCount { get; private set; }
    public int ReadCalls { get; private set; }

    /// <summary>The byte an untouched disk holds at <paramref name="offset"/>.</summary>
    public static byte Pattern(long offset) => (byte)((offset >> 9) * 7 + (offset & 511) * 13 + (offset >> 20));

    private void Check(long offset, int length)
    {
        if (offset < 0 || offset + length > size) throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} outside {size}");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        Check(offset, buffer.Length);
        ReadCalls++;
        int done = 0;
        while (done < buffer.Length)
        {
            long o = offset + done;
            int inChunk = (int)(o % Chunk), n = Math.Min(buffer.Length - done, Chunk - inChunk);
            if (_chunks.TryGetValue(o / Chunk, out var c)) c.AsSpan(inChunk, n).CopyTo(buffer[done..]);
            else for (int i = 0; i < n; i++) buffer[done + i] = Pattern(o + i);
            done += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Check(offset, data.Length);
        if (readOnly) throw new InvalidOperationException("write to a read-only test disk");
        int done = 0;
        while (done < data.Length)
        {
            long o = offset + done;
            int inChunk = (int)(o % Chunk), n = Math.Min(data.Length - done, Chunk - inChunk);
            if (!_chunks.TryGetValue(o / Chunk, out var c))
            {
                c = new byte[Chunk];
                long start = o / Chunk * Chunk;
                for (int j = 0; j < Chunk; j++) c[j] = Pattern(start + j);
                _chunks[o / Chunk] = c;
            }
            data.Slice(done, n).CopyTo(c.AsSpan(inChunk));
            done += n;
        }
    }

    public byte[] Bytes(long offset, int length)
    {
        var b = new byte[length];
        Read(offset, b);
        ReadCalls--;
        return b;
    }

    public void Flush() => FlushCount++;
    public Extent GetBlockStatus(long offset, long maxLength) => new(offset, Math.Min(maxLength, size - offset), ExtentKind.Data);
    public void WriteZeroes(long offset, long length) => Write(offset, new byte[length]);
    public void Discard(long offset, long length) { }
    public void Dispose() { }
}
