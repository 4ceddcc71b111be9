using System.Buffers.Binary;
using MiniVM.Block;

namespace MiniVM.Cli.Tests;

/// <summary>
/// A test-only format whose header records how many corruptions and leaks `check` should find, so the CLI's
/// qemu-img exit codes (0/2/3, repair, re-check) are exercised without depending on a real format's bugs.
/// Layout: "LEDGER01", int32 version (1), int32 corruptions, int32 leaks; guest data from byte 4096.
/// </summary>
internal sealed class LedgerFormat : IImageFormat
{
    public const int HeaderSize = 4096;
    private static ReadOnlySpan<byte> Magic => "LEDGER01"u8;

    public string Name => "ledger";
    public IReadOnlyList<CreateOptionSpec> CreateOptions { get; } = [];

    public int Probe(ReadOnlySpan<byte> head, string fileName) => head.StartsWith(Magic) ? 100 : 0;

    public static ImageFormats Registry()
    {
        var r = new ImageFormats();
        foreach (var f in ImageFormats.Default.All) r.Register(f);
        r.Register(new LedgerFormat());
        return r;
    }

    public static void Write(string file, long size, int corruptions, int leaks, int version = 1)
    {
        using var fs = new FileStream(file, FileMode.Create);
        byte[] head = new byte[HeaderSize];
        Magic.CopyTo(head);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(8), version);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(12), corruptions);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(16), leaks);
        fs.Write(head);
        fs.SetLength(HeaderSize + size);
    }

    public IBlockDriver Create(string fileName, long size, ImageCreateOptions options, ImageOpenContext context)
    {
        Write(fileName, size, 0, 0);
        return Open(fileName, context);
    }

    public IBlockDriver Open(string fileName, ImageOpenContext context)
    {
        byte[] head = File.ReadAllBytes(fileName).AsSpan(0, Math.Min(HeaderSize, (int)new FileInfo(fileName).Length)).ToArray();
        if (head.Length < 20 || !head.AsSpan().StartsWith(Magic)) throw new ImageFormatException(fileName, "not a ledger image");
        int version = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(8));
        if (version != 1) throw ImageFormatException.BadField(fileName, "version", version, "only version 1 is known");
        return new LedgerImage(fileName, context.ReadOnly);
    }

    private sealed class LedgerImage(string fileName, bool readOnly) : IBlockDriver, IImageCheck
    {
        public string FormatName => "ledger";
        public string FileName => fileName;
        public long Size => new FileInfo(fileName).Length - HeaderSize;
        public bool IsReadOnly => readOnly;

        public void Read(long offset, Span<byte> buffer)
        {
            using var fs = new FileStream(fileName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            fs.Position = HeaderSize + offset;
            fs.ReadExactly(buffer);
        }

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            using var fs = new FileStream(fileName, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            fs.Position = HeaderSize + offset;
            fs.Write(data);
        }

        public void Flush() { }
        public Extent GetBlockStatus(long offset, long maxLength) => new(offset, maxLength, ExtentKind.Data, fileName, HeaderSize + offset);
        public void WriteZeroes(long offset, long length) => Write(offset, new byte[length]);
        public void Discard(long offset, long length) => WriteZeroes(offset, length);
        public void Dispose() { }

        public CheckResult Check(RepairMode repair = RepairMode.None)
        {
            byte[] head = new byte[20];
            using (var fs = new FileStream(fileName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) fs.ReadExactly(head);
            var r = new CheckResult
            {
                Corruptions = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(12)),
                Leaks = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(16)),
                AllocatedClusters = 3,
                TotalClusters = 12,
            };
            for (int i = 0; i < r.Corruptions; i++) r.Messages.Add($"ERROR cluster {i} refcount=0 reference=1");
            for (int i = 0; i < r.Leaks; i++) r.Messages.Add($"Leaked cluster {100 + i} refcount=1 reference=0");
            if (repair != RepairMode.None && !readOnly)
            {
                r.LeaksFixed = r.Leaks;
                if (repair == RepairMode.All) r.CorruptionsFixed = r.Corruptions;
                LedgerFormat.Write(fileName, Size, r.Corruptions - r.CorruptionsFixed, 0);
            }
            return r;
        }
    }
}
