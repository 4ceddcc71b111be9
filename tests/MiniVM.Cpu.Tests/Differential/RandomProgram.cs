using System.Text;
using Iced.Intel;
using static MiniVM.Cpu.Tests.Differential.GuestLayout;

namespace MiniVM.Cpu.Tests.Differential;

/// <summary>
/// A random guest program for the differential tests: its code (loaded at <see cref="LoadAddress"/>, entered at
/// <see cref="EntryIp"/>), the 16-bit function the 32-bit programs far-call, the far function a call gate targets, and
/// the initial contents of the data areas. The same seed and mode always give the same bytes.
/// </summary>
public sealed class RandomProgram
{
    public required int Seed { get; init; }
    public required GuestMode Mode { get; init; }
    public required uint LoadAddress { get; init; }
    public required uint EntryIp { get; init; }
    public required byte[] Code { get; init; }
    public required byte[] Code16 { get; init; }
    public required uint FarFunction { get; init; }
    /// <summary>(physical address, bytes) the data areas start with.</summary>
    public required IReadOnlyList<(uint Address, byte[] Bytes)> Data { get; init; }

    public int Bitness => Mode == GuestMode.Real ? 16 : 32;

    public static RandomProgram Generate(int seed, GuestMode mode, int items = 160) => ProgramGenerator.Generate(seed, mode, items);

    /// <summary>The program as NASM text, one instruction a line with its address and bytes.</summary>
    public string Disassembly(int maxLines = 600)
    {
        var sb = new StringBuilder();
        Disassemble(sb, Bitness, Code, Mode == GuestMode.Real ? EntryIp : LoadAddress, maxLines);
        if (Mode != GuestMode.Real)
        {
            sb.AppendLine("; 16-bit function at 0040:" + Code16Function.ToString("X4"));
            Disassemble(sb, 16, Code16, Code16Function, 64);
        }
        return sb.ToString();
    }

    private static void Disassemble(StringBuilder sb, int bitness, byte[] code, ulong ip, int maxLines)
    {
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(code), ip);
        var formatter = new NasmFormatter();
        var output = new StringOutput();
        int lines = 0;
        while (decoder.IP < ip + (ulong)code.Length)
        {
            if (lines++ == maxLines) { sb.AppendLine("..."); break; }
            ulong at = decoder.IP;
            var instr = decoder.Decode();
            formatter.Format(instr, output);
            string bytes = Convert.ToHexString(code, (int)(at - ip), instr.Length);
            sb.Append(at.ToString("X8")).Append("  ").Append(bytes.PadRight(24)).AppendLine(output.ToStringAndReset());
        }
    }
}
