using System.IO.Hashing;
using System.Text;
using MiniVM.Devices;

namespace MiniVM.Machine.Snapshots;

/// <summary>
/// The VM state that savevm stores inside a disk image (iROW: in the snapshot's btmp file after the bitmap).
/// Layout, all integers little-endian:
/// <code>
///   "MINIVMST" u32 formatVersion  string machineFingerprint
///   { u8 1  string sectionId  i32 sectionVersion  i64 length  body[length] }*   one per device, CPU, clock, RAM
///   u8 0  XXH128 of every byte before it (16 bytes)
/// </code>
/// The RAM section stores only pages that are not all zero, as (u32 page number, 4096 bytes).
/// The checksum is there to catch a damaged stream, not a forged one (the image files are the user's own), so it is
/// XXH128, which runs at memory speed, rather than SHA-256, many times slower per byte, which savevm and both of
/// loadvm's passes paid on every page of guest RAM in use. (`info statehash` is still SHA-256 over the stream.)
/// Loading verifies the whole stream (checksum, fingerprint, every section present with a known version)
/// before touching the machine, so a bad stream leaves the running VM as it was.
/// </summary>
public static class VmStateStream
{
    private static readonly byte[] Magic = "MINIVMST"u8.ToArray();
    /// <summary>2: every device's state is in the stream (fwcfg and the 0xCF9 reset control were missing), the
    /// CPU section is the CPU record itself, and the checksum is XXH128.</summary>
    public const uint FormatVersion = 2;
    public const string RamSectionId = "ram";
    private const int PageSize = 4096;
    private const int ChecksumSize = 16;
    /// <summary>Upper bound for one non-RAM section, against hostile streams.</summary>
    private const long MaxSectionLength = 64L << 20;

    /// <param name="nonZeroPages">The RAM pages that are not all zero, ascending, when the caller knows them
    /// (<see cref="RamOccupancy"/>); null to find them by reading all of RAM (<c>info statehash</c>, the referee).</param>
    public static void Save(Stream output, string fingerprint, IReadOnlyList<ISnapshottable> sections, byte[] ram,
        IReadOnlyList<int>? nonZeroPages = null)
    {
        using var hashing = new HashingStream(output);
        // BinaryWriter passes every value straight to the stream (it keeps no buffer), so headers and bodies written
        // to `hashing` directly stay in order with no Flush in between: a Flush here would reach the caller's
        // BufferedStream and turn into one write to the image per RAM page.
        var w = new BinaryWriter(hashing, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(FormatVersion);
        w.Write(fingerprint);
        foreach (var s in sections)
        {
            var body = new MemoryStream();
            s.SaveState(new StateWriter(body));
            w.Write((byte)1);
            w.Write(s.SectionId);
            w.Write(s.SectionVersion);
            w.Write(body.Length);
            body.Position = 0;
            body.CopyTo(hashing);
        }
        WriteRam(w, hashing, ram, nonZeroPages ?? NonZeroPages(ram));
        w.Write((byte)0);
        output.Write(hashing.Finish());
    }

    private static List<int> NonZeroPages(byte[] ram)
    {
        int pages = ram.Length / PageSize;
        var nonZero = new List<int>();
        for (int p = 0; p < pages; p++)
            if (ram.AsSpan(p * PageSize, PageSize).ContainsAnyExcept((byte)0)) nonZero.Add(p);
        return nonZero;
    }

    private static void WriteRam(BinaryWriter w, Stream hashing, byte[] ram, IReadOnlyList<int> nonZero)
    {
        w.Write((byte)1);
        w.Write(RamSectionId);
        w.Write(1);
        w.Write(8L + nonZero.Count * (4L + PageSize));
        w.Write((long)ram.Length);
        foreach (int p in nonZero)
        {
            w.Write(p);
            hashing.Write(ram, p * PageSize, PageSize);
        }
    }

    /// <summary>What one pass over a stream does besides checking it.</summary>
    public enum Pass
    {
        /// <summary>Checks everything (structure, fingerprint, sections, RAM layout, checksum); touches nothing.</summary>
        Verify,
        /// <summary>
        /// Checks everything like <see cref="Verify"/> and restores every section but RAM on the way: loadvm's trial run,
        /// which the caller undoes from a <see cref="Capture"/> when it throws. One read of the stream instead of two.
        /// </summary>
        Devices,
        /// <summary>Restores every section and RAM.</summary>
        All,
    }

    /// <summary>One pass over a stream; throws <see cref="StateFormatException"/> naming what is wrong.</summary>
    /// <param name="occupancy">On a <see cref="Pass.All"/> pass, what is known about RAM: pages it knows are zero
    /// and the stream does not hold are not even read; it is told what the load puts in RAM.</param>
    /// <param name="stage">On a <see cref="Pass.Devices"/> pass, keeps the section bodies and the RAM pages that differ
    /// from guest RAM, so that <see cref="Apply"/> can finish the load without reading the stream again.</param>
    public static void Read(Stream input, string fingerprint, IReadOnlyList<ISnapshottable> sections, byte[] ram, Pass pass,
        RamOccupancy? occupancy = null, StagedState? stage = null)
    {
        var byId = new Dictionary<string, ISnapshottable>();
        foreach (var s in sections) byId[s.SectionId] = s;
        Walk(input, fingerprint, byId, ram, pass, occupancy, pass == Pass.Devices ? stage : null);
    }

    /// <summary>
    /// Finishes a load from what a <see cref="Pass.Devices"/> pass staged (<see cref="StagedState.Complete"/>): every
    /// section again, in stream order, then RAM: staged pages copied in, pages the stream does not hold cleared.
    /// </summary>
    public static void Apply(StagedState stage, byte[] ram, RamOccupancy? occupancy)
    {
        if (!stage.Complete) throw new InvalidOperationException("the stream did not fit the stage; read it again");
        foreach (var (section, body, version) in stage.Sections)
            section.LoadState(new StateReader(new MemoryStream(body, writable: false), section.SectionId), version);
        foreach (var (page, bytes) in stage.Pages()) bytes.Span.CopyTo(ram.AsSpan(page * PageSize, PageSize));
        int pages = ram.Length / PageSize;
        for (int p = 0; p < pages;)
        {
            int end = p + 1;
            bool held = stage.InStream(p);
            while (end < pages && stage.InStream(end) == held) end++;
            if (!held) ClearPages(ram, p, end, occupancy);
            else if (occupancy is not null) for (int q = p; q < end; q++) occupancy.Loaded(q);
            p = end;
        }
    }

    /// <summary>Every section's current bytes (no RAM): a rollback point for a loadvm whose sections fail to load.</summary>
    public static IReadOnlyList<(ISnapshottable Section, byte[] Body)> Capture(IReadOnlyList<ISnapshottable> sections)
    {
        var saved = new List<(ISnapshottable, byte[])>(sections.Count);
        foreach (var s in sections)
        {
            var body = new MemoryStream();
            s.SaveState(new StateWriter(body));
            saved.Add((s, body.ToArray()));
        }
        return saved;
    }

    /// <summary>Puts back what <see cref="Capture"/> took; these are our own bytes, so they load.</summary>
    public static void Restore(IReadOnlyList<(ISnapshottable Section, byte[] Body)> saved)
    {
        foreach (var (s, body) in saved) s.LoadState(new StateReader(new MemoryStream(body, writable: false), s.SectionId), s.SectionVersion);
    }

    private static void Walk(Stream input, string fingerprint, Dictionary<string, ISnapshottable> byId, byte[] ram, Pass pass,
        RamOccupancy? occupancy, StagedState? stage)
    {
        using var hashing = new HashingStream(input);
        var r = new BinaryReader(hashing, Encoding.UTF8, leaveOpen: true);
        try
        {
            Span<byte> magic = stackalloc byte[8];
            hashing.ReadExactly(magic);
            if (!magic.SequenceEqual(Magic)) throw new StateFormatException("VM state: not a MiniVM state stream (bad magic)");
            uint version = r.ReadUInt32();
            if (version is > 0 and < FormatVersion)
                throw new StateFormatException($"VM state: saved by an older MiniVM (state format {version}; this one reads format {FormatVersion} only): boot the VM and savevm again");
            if (version != FormatVersion) throw new StateFormatException($"VM state: format version {version} is not supported (expected {FormatVersion})");
            string fp = ReadShortString(r, "machine fingerprint");
            if (fp != fingerprint)
                throw new StateFormatException($"VM state: saved from a different machine configuration ({fp}; this machine is {fingerprint})");
            var seen = new HashSet<string>();
            while (true)
            {
                byte tag = r.ReadByte();
                if (tag == 0) break;
                if (tag != 1) throw new StateFormatException($"VM state: bad section tag {tag}");
                string id = ReadShortString(r, "section id");
                int sectionVersion = r.ReadInt32();
                long length = r.ReadInt64();
                if (!seen.Add(id)) throw new StateFormatException($"VM state: section {id} appears twice");
                if (id == RamSectionId) { ReadRam(r, hashing, length, ram, pass == Pass.All, occupancy, stage); continue; }
                if (!byId.TryGetValue(id, out var section))
                    throw new StateFormatException($"VM state: section {id} is not a device of this machine");
                if (sectionVersion < 1 || sectionVersion > section.SectionVersion)
                    throw new StateFormatException($"VM state: section {id} version {sectionVersion} is not supported (this build reads 1..{section.SectionVersion})");
                if (length < 0 || length > MaxSectionLength)
                    throw new StateFormatException($"VM state: section {id} length {length} is out of range");
                byte[] body = new byte[length];
                hashing.ReadExactly(body);
                if (pass != Pass.Verify)
                {
                    var ms = new MemoryStream(body, writable: false);
                    section.LoadState(new StateReader(ms, id), sectionVersion);
                    if (ms.Position != ms.Length) throw new StateFormatException($"VM state: section {id} has {ms.Length - ms.Position} unread bytes");
                    stage?.Section(section, body, sectionVersion);
                }
            }
            byte[] expected = hashing.Finish();
            Span<byte> stored = stackalloc byte[ChecksumSize];
            input.ReadExactly(stored);
            if (!stored.SequenceEqual(expected)) throw new StateFormatException("VM state: checksum mismatch (the stream is corrupted)");
            foreach (var id in byId.Keys.Append(RamSectionId))
                if (!seen.Contains(id)) throw new StateFormatException($"VM state: section {id} is missing");
        }
        catch (EndOfStreamException) { throw new StateFormatException("VM state: truncated"); }
    }

    private static void ReadRam(BinaryReader r, Stream hashing, long length, byte[] ram, bool apply, RamOccupancy? occupancy,
        StagedState? stage)
    {
        long ramSize = r.ReadInt64();
        if (ramSize != ram.Length) throw new StateFormatException($"VM state: RAM is {ramSize} bytes, this machine has {ram.Length}");
        long body = length - 8;
        if (body < 0 || body % (4 + PageSize) != 0) throw new StateFormatException($"VM state: section ram length {length} is malformed");
        long count = body / (4 + PageSize);
        if (count > ram.Length / PageSize) throw new StateFormatException($"VM state: section ram holds {count} pages, more than the machine has");
        byte[] scratch = apply ? [] : new byte[PageSize];
        int last = -1;
        for (long i = 0; i < count; i++)
        {
            int page = r.ReadInt32();
            if (page <= last || (long)page * PageSize >= ram.Length)
                throw new StateFormatException($"VM state: section ram page {page} is out of order or out of range");
            if (apply)
            {
                ClearPages(ram, last + 1, page, occupancy);
                hashing.ReadExactly(ram, page * PageSize, PageSize);
                occupancy?.Loaded(page);
            }
            else
            {
                hashing.ReadExactly(scratch);
                stage?.Page(page, scratch, ram.AsSpan(page * PageSize, PageSize));
            }
            last = page;
        }
        if (apply) ClearPages(ram, last + 1, ram.Length / PageSize, occupancy);
    }

    /// <summary>
    /// Zeroes pages [first, end) that are not zero already. A page <paramref name="occupancy"/> knows is zero is not
    /// read at all; any other is read before it is written, so a zero page costs no write and a page the guest never
    /// touched is not made resident (clearing all of a 512 MiB guest's RAM took longer than the rest of loadvm).
    /// </summary>
    private static void ClearPages(byte[] ram, int first, int end, RamOccupancy? occupancy)
    {
        for (int p = first; p < end; p++)
        {
            if (occupancy is not null && !occupancy.MayBeNonZero(p)) continue;
            var page = ram.AsSpan(p * PageSize, PageSize);
            if (page.ContainsAnyExcept((byte)0)) page.Clear();
            occupancy?.Cleared(p);
        }
    }

    private static string ReadShortString(BinaryReader r, string what)
    {
        // BinaryReader.ReadString trusts a 7-bit-encoded length; bound it before it allocates.
        int len = Read7BitLength(r);
        if (len > 4096) throw new StateFormatException($"VM state: {what} of {len} bytes is too long");
        return Encoding.UTF8.GetString(r.ReadBytes(len) is { } b && b.Length == len ? b : throw new EndOfStreamException());
    }

    private static int Read7BitLength(BinaryReader r)
    {
        int result = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            byte b = r.ReadByte();
            result |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new StateFormatException("VM state: bad string length");
    }

    /// <summary>Passes bytes through while checksumming them (XXH128), in either direction.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly XxHash128 _hash = new();
        public byte[] Finish() => _hash.GetHashAndReset();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            _hash.Append(buffer[..n]);
            return n;
        }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.Append(buffer);
            inner.Write(buffer);
        }
        public override void Flush() => inner.Flush();
        public override bool CanRead => inner.CanRead;
        public override bool CanWrite => inner.CanWrite;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
