namespace MiniVM.Devices;

/// <summary>
/// A piece of machine state saved by savevm as one named, versioned, length-prefixed section (design.md).
/// Load must either restore everything or throw <see cref="StateFormatException"/> naming the problem.
/// </summary>
public interface ISnapshottable
{
    /// <summary>Section name, unique in the machine ("pic0", "pit", "ide0", "vga").</summary>
    string SectionId { get; }
    int SectionVersion { get; }
    void SaveState(StateWriter writer);
    void LoadState(StateReader reader, int version);
}

/// <summary>A VM-state section that cannot be read (truncated, wrong version, values out of range).</summary>
public sealed class StateFormatException(string message) : Exception(message);

/// <summary>Little-endian writer for one section's body.</summary>
public sealed class StateWriter(Stream stream)
{
    private readonly BinaryWriter _w = new(stream, System.Text.Encoding.UTF8, leaveOpen: true);
    public void Write(bool v) => _w.Write(v);
    public void Write(byte v) => _w.Write(v);
    public void Write(ushort v) => _w.Write(v);
    public void Write(uint v) => _w.Write(v);
    public void Write(int v) => _w.Write(v);
    public void Write(long v) => _w.Write(v);
    public void Write(ulong v) => _w.Write(v);
    public void Write(double v) => _w.Write(v);
    public void Write(string v) => _w.Write(v);
    /// <summary>Length-prefixed byte block.</summary>
    public void WriteBytes(ReadOnlySpan<byte> v) { _w.Write(v.Length); _w.Write(v); }
    /// <summary>A record written by a part that has its own writer (the CPU), straight into the section: no header.</summary>
    public void WriteRecord(Action<BinaryWriter> write) { write(_w); _w.Flush(); }
}

/// <summary>Reader for one section's body; every read past the end is a <see cref="StateFormatException"/>.</summary>
public sealed class StateReader(Stream stream, string sectionId)
{
    private readonly BinaryReader _r = new(stream, System.Text.Encoding.UTF8, leaveOpen: true);
    public string SectionId { get; } = sectionId;

    private T Guard<T>(Func<T> read)
    {
        try { return read(); }
        catch (EndOfStreamException) { throw new StateFormatException($"section {SectionId}: truncated"); }
    }
    public bool ReadBool() => Guard(_r.ReadBoolean);
    public byte ReadByte() => Guard(_r.ReadByte);
    public ushort ReadUInt16() => Guard(_r.ReadUInt16);
    public uint ReadUInt32() => Guard(_r.ReadUInt32);
    public int ReadInt32() => Guard(_r.ReadInt32);
    public long ReadInt64() => Guard(_r.ReadInt64);
    public ulong ReadUInt64() => Guard(_r.ReadUInt64);
    public double ReadDouble() => Guard(_r.ReadDouble);
    public string ReadString() => Guard(_r.ReadString);

    /// <summary>Reads a block written by WriteBytes into <paramref name="destination"/>, which must be exactly its size.</summary>
    public void ReadBytes(Span<byte> destination)
    {
        int n = ReadInt32();
        if (n != destination.Length) throw new StateFormatException($"section {SectionId}: block of {n} bytes where {destination.Length} expected");
        if (_r.BaseStream.Read(destination) is var got && got != n)
        {
            int total = got;
            while (total < n) { int k = _r.BaseStream.Read(destination[total..]); if (k == 0) throw new StateFormatException($"section {SectionId}: truncated"); total += k; }
        }
    }

    /// <summary>Reads a record written by <see cref="StateWriter.WriteRecord"/>; reading past the section's end is
    /// <c>truncated</c>.</summary>
    public void ReadRecord(Action<BinaryReader> read)
    {
        try { read(_r); }
        catch (EndOfStreamException) { throw new StateFormatException($"section {SectionId}: truncated"); }
    }

    /// <summary>Checks a value read from the stream, for fields whose range matters (indices, sizes).</summary>
    public int ReadInt32InRange(int min, int max, string field)
    {
        int v = ReadInt32();
        if (v < min || v > max) throw new StateFormatException($"section {SectionId}: {field} = {v} out of range {min}..{max}");
        return v;
    }
}
