using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MiniVM.Cpu.Tests.SingleStep286;

/// <summary>Reader for the gzip-compressed MOO files (format in ../shared/cpu-tests/80286/README.md).</summary>
public static class MooFile
{
    public static List<MooTest> Load(string path)
    {
        byte[] d;
        using (var fs = File.OpenRead(path))
        using (var gz = new GZipStream(fs, CompressionMode.Decompress))
        using (var ms = new MemoryStream())
        {
            gz.CopyTo(ms);
            d = ms.ToArray();
        }
        if (d.Length < 8 || Encoding.ASCII.GetString(d, 0, 4) != "MOO ") throw new InvalidDataException($"{path}: not a MOO file");
        var tests = new List<MooTest>();
        foreach (var (id, body, len) in Chunks(d, 0, d.Length))
            if (id == "TEST") tests.Add(ReadTest(d, body, len));
        return tests;
    }

    private static uint U32(byte[] d, int p) => BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(p));
    private static ushort U16(byte[] d, int p) => BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(p));

    private static IEnumerable<(string Id, int Body, int Len)> Chunks(byte[] d, int pos, int end)
    {
        while (pos + 8 <= end)
        {
            string id = Encoding.ASCII.GetString(d, pos, 4);
            int len = checked((int)U32(d, pos + 4));
            if (pos + 8 + len > end) throw new InvalidDataException($"chunk {id} at {pos} overruns its parent");
            yield return (id, pos + 8, len);
            pos += 8 + len;
        }
    }

    private static MooTest ReadTest(byte[] d, int body, int len)
    {
        var t = new MooTest { Index = U32(d, body) };
        foreach (var (id, p, n) in Chunks(d, body + 4, body + len))
        {
            switch (id)
            {
                case "NAME": t.Name = Encoding.ASCII.GetString(d, p + 4, (int)U32(d, p)); break;
                case "BYTS": t.Bytes = d.AsSpan(p + 4, (int)U32(d, p)).ToArray(); break;
                case "INIT": ReadState(d, p, n, t.InitRegs, t.InitRam); break;
                case "FINA": t.FinalMask = ReadState(d, p, n, t.FinalRegs, t.FinalRam); break;
                case "EXCP": t.Vector = d[p]; break;
                case "HASH": t.Hash = Convert.ToHexString(d, p, 20).ToLowerInvariant(); break;
            }
        }
        return t;
    }

    private static ushort ReadState(byte[] d, int body, int len, ushort[] regs, List<(uint, byte)> ram)
    {
        ushort mask = 0;
        foreach (var (id, p, _) in Chunks(d, body, body + len))
        {
            if (id == "REGS")
            {
                mask = U16(d, p);
                int q = p + 2;
                for (int i = 0; i < 14; i++)
                    if ((mask & (1 << i)) != 0) { regs[i] = U16(d, q); q += 2; }
            }
            else if (id == "RAM ")
            {
                uint count = U32(d, p);
                for (int i = 0; i < count; i++) ram.Add((U32(d, p + 4 + 5 * i), d[p + 8 + 5 * i]));
            }
        }
        return mask;
    }
}
