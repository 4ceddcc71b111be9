using System.Text;
using System.Text.Json;
using MiniVM.Cpu.Tests.Support;
using Xunit.Abstractions;

namespace MiniVM.Cpu.Tests.SingleStep286;

/// <summary>
/// Runs ../shared/cpu-tests/80286 (SingleStepTests, real mode) against X86Cpu: one theory case per opcode file.
/// Rules from that folder's README: FLAGS loaded as initial &amp; 0x0FFF, undefined-flag masks (widened for
/// C0/C1), revocation list, LOCK and &gt;10-byte tests skipped, #SS accepted where the 286 gave #GP for an
/// SS-relative overrun. Every remaining difference must be in allowed-differences.txt with a reason.
/// Each file runs under both engines: the interpreter takes every test (and writes the report); the translating engine
/// translates every block at first sight (JitThreshold 1) and, translation costing about a millisecond a block, takes
/// every <see cref="JitSample"/>th test, twice: the tested instruction alone first (its block is translated), then the
/// initial state again without a Reset (which would drop the translation), so the block runs translated.
/// </summary>
[Trait("Category", "SingleStep286")]
public sealed class SingleStepTests(SingleStepReport report, ITestOutputHelper output) : IClassFixture<SingleStepReport>
{
    public static string DataDirectory => Path.Combine(RepoPaths.Shared, "cpu-tests", "80286", "v1_real_mode");

    public const int JitSample = 16;

    public static IEnumerable<object[]> Files() =>
        Directory.GetFiles(DataDirectory, "*.MOO.gz")
            .Select(f => Path.GetFileName(f)[..^".MOO.gz".Length])
            .OrderBy(s => s, StringComparer.Ordinal)
            .SelectMany(s => new[] { new object[] { CpuEngines.Interpreter, s }, new object[] { CpuEngines.Jit, s } });

    private static readonly Lazy<JsonElement> Metadata = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(DataDirectory, "metadata.json"))).RootElement.GetProperty("opcodes"));

    private static readonly Lazy<HashSet<string>> Revoked = new(() =>
        File.ReadAllLines(Path.Combine(RepoPaths.Shared, "cpu-tests", "80286", "revocation_list.txt"))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.ToLowerInvariant())
            .ToHashSet());

    /// <summary>allowed-differences.txt: "stem index reason" (index "*" = whole file).</summary>
    private static readonly Lazy<Dictionary<string, string>> Allowed = new(() =>
    {
        var d = new Dictionary<string, string>();
        string path = Path.Combine(RepoPaths.Root, "tests", "MiniVM.Cpu.Tests", "SingleStep286", "allowed-differences.txt");
        foreach (var raw in File.ReadAllLines(path))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3) throw new InvalidDataException($"allowed-differences.txt: '{line}' needs stem, index and a reason");
            d[parts[0] + " " + parts[1]] = parts[2];
        }
        return d;
    });

    private static ushort FlagsMask(string stem)
    {
        string op = stem[..2];
        int reg = stem.Length > 2 ? stem[3] - '0' : -1;
        ushort mask = 0xFFFF;
        if (Metadata.Value.TryGetProperty(op, out var e))
        {
            if (reg >= 0 && e.TryGetProperty("reg", out var regs) && regs.TryGetProperty(reg.ToString(), out var re)) e = re;
            if (e.TryGetProperty("flags-mask", out var m)) mask = (ushort)m.GetInt32();
        }
        // The SDM leaves OF undefined for counts other than 1 and CF for shifts at or beyond the width: use the
        // D2/D3 masks for the immediate-count forms too (README, "Undefined flags").
        if (op is "C0" or "C1") mask &= reg < 4 ? (ushort)0xF7FF : (ushort)0xF7EE;
        // A P6 lets POPF/IRET load IOPL and NT in real mode; the 286 cannot hold them (caveat 1).
        if (op is "9D" or "CF") mask &= 0x0FFF;
        return mask;
    }

    private static bool Skipped(MooTest t)
    {
        if (t.Bytes.Length - 1 > 10) return true;
        foreach (byte b in t.Bytes)
        {
            if (b == 0xF0) return true;
            if (b is not (0x26 or 0x2E or 0x36 or 0x3E or 0xF2 or 0xF3)) break;
        }
        return false;
    }

    private static readonly int[] GprIndex = [0, 3, 1, 2, -1, -1, -1, -1, 4, 5, 6, 7];

    [Theory]
    [MemberData(nameof(Files))]
    public void Opcode(string engine, string stem)
    {
        var tests = MooFile.Load(Path.Combine(DataDirectory, stem + ".MOO.gz"));
        var mem = new PhysicalMemory(16 << 20);
        var cpu = new X86Cpu(mem, new TestBus(), new TestInterrupts()).Use(engine);
        bool jit = engine == CpuEngines.Jit;
        if (jit) cpu.JitThreshold = 1;
        ushort mask = FlagsMask(stem);
        int passed = 0, allowed = 0, skipped = 0, ssForGp = 0;
        var failures = new List<string>();
        Span<byte> one = stackalloc byte[1];
        foreach (var t in tests)
        {
            if (jit && t.Index % JitSample != 0) continue;
            if (Revoked.Value.Contains(t.Hash) || Skipped(t)) { skipped++; continue; }
            string? why = RunOne(cpu, mem, t, mask, warm: jit, out bool ss);
            if (why is null) { passed++; if (ss) ssForGp++; }
            else if (Allowed.Value.ContainsKey(stem + " " + t.Index) || Allowed.Value.ContainsKey(stem + " *")) allowed++;
            else failures.Add($"#{t.Index} {t.Name} [{Convert.ToHexString(t.Bytes)}]: {why}");
            foreach (var (a, _) in t.InitRam) { one[0] = 0; mem.Write(a, one); }
            foreach (var (a, _) in t.FinalRam) { one[0] = 0; mem.Write(a, one); }
            mem.Write(0x30, new byte[4]);
        }
        string mnemonic = tests.Count > 0 ? tests[0].Name.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(w => w is not ("lock" or "rep" or "repne" or "repe")) ?? "" : "";
        if (!jit) report.Add(new SingleStepReport.Row(stem, mnemonic, tests.Count, passed, allowed, skipped, ssForGp));
        output.WriteLine($"{stem} ({engine}): {passed} passed, {allowed} allowed, {skipped} skipped" + (jit ? $"; {cpu.JitStatistics}" : ""));
        foreach (var f in failures) output.WriteLine(f);
        Assert.True(failures.Count == 0, $"{stem} ({engine}): {failures.Count} failing tests, first: {string.Join(" | ", failures.Take(5))}");
    }

    private static string? RunOne(X86Cpu cpu, PhysicalMemory mem, MooTest t, ushort flagsMask, bool warm, out bool ssForGp)
    {
        ssForGp = false;
        cpu.Reset();
        LoadInitialState(cpu, mem, t);
        if (warm)
        {
            cpu.Run(1);
            if (cpu.Halted || cpu.ProtectedMode || cpu.ShutdownPending) cpu.Reset(); // state a reload cannot undo
            // Back to the initial bytes, writing only those that changed so the decoded (and translated) code stays.
            Span<byte> b = stackalloc byte[1];
            var initial = t.InitRam.ToDictionary(x => x.Address, x => x.Value);
            foreach (var (a, _) in t.FinalRam)
                if (!initial.ContainsKey(a) && mem.Ram[a] != 0) { b[0] = 0; mem.Write(a, b); }
            foreach (var (a, v) in t.InitRam)
                if (mem.Ram[a] != v) { b[0] = v; mem.Write(a, b); }
            LoadInitialRegisters(cpu, t);
        }
        cpu.Run(16);
        return Compare(cpu, mem, t, flagsMask, ref ssForGp);
    }

    private static void LoadInitialState(X86Cpu cpu, PhysicalMemory mem, MooTest t)
    {
        Span<byte> one = stackalloc byte[1];
        foreach (var (a, v) in t.InitRam) { one[0] = v; mem.Write(a, one); }
        if (t.Vector == 13)
        {
            // Route a P6 #SS to the 286's #GP handler so an SS-relative overrun ends at the same HLT.
            var ivt = new byte[4];
            foreach (var (a, v) in t.InitRam) if (a is >= 0x34 and < 0x38) ivt[a - 0x34] = v;
            mem.Write(0x30, ivt);
        }
        LoadInitialRegisters(cpu, t);
    }

    private static void LoadInitialRegisters(X86Cpu cpu, MooTest t)
    {
        var r = t.InitRegs;
        for (int i = 0; i < 12; i++) if (GprIndex[i] >= 0) cpu.SetRegister((GeneralRegister)GprIndex[i], r[i]);
        cpu.SetSegmentReal(SegmentRegister.Cs, r[MooTest.CS]);
        cpu.SetSegmentReal(SegmentRegister.Ss, r[MooTest.SS]);
        cpu.SetSegmentReal(SegmentRegister.Ds, r[MooTest.DS]);
        cpu.SetSegmentReal(SegmentRegister.Es, r[MooTest.ES]);
        cpu.Eip = r[MooTest.IP];
        cpu.Eflags = (uint)(r[MooTest.FLAGS] & 0x0FFF);
    }

    private static string? Compare(X86Cpu cpu, PhysicalMemory mem, MooTest t, ushort flagsMask, ref bool ssForGp)
    {
        var sb = new StringBuilder();
        if (!cpu.Halted) sb.Append($"did not halt (EIP={cpu.Eip:X}, last exception {cpu.LastExceptionVector}); ");
        if (t.Vector >= 0)
        {
            if (cpu.LastExceptionVector == 12 && t.Vector == 13) ssForGp = true;
        }
        for (int i = 0; i < 14; i++)
        {
            ushort exp = t.Expected(i);
            ushort act = i switch
            {
                MooTest.CS => cpu.GetSegment(SegmentRegister.Cs).Selector,
                MooTest.SS => cpu.GetSegment(SegmentRegister.Ss).Selector,
                MooTest.DS => cpu.GetSegment(SegmentRegister.Ds).Selector,
                MooTest.ES => cpu.GetSegment(SegmentRegister.Es).Selector,
                MooTest.IP => (ushort)cpu.Eip,
                MooTest.FLAGS => (ushort)cpu.Eflags,
                _ => (ushort)cpu.GetRegister((GeneralRegister)GprIndex[i]),
            };
            ushort m = i == MooTest.FLAGS ? flagsMask : (ushort)0xFFFF;
            if ((exp & m) != (act & m)) sb.Append($"{MooTest.RegisterNames[i]} {act:X4} != {exp:X4}; ");
        }
        uint flagsAt = uint.MaxValue;
        if (t.Vector >= 0)
        {
            uint ss = t.Expected(MooTest.SS);
            uint sp = t.Expected(MooTest.SP);
            flagsAt = ss * 16 + ((sp + 4) & 0xFFFF);
        }
        uint flagsHi = flagsAt == uint.MaxValue ? uint.MaxValue : (t.Expected(MooTest.SS) * 16u) + ((t.Expected(MooTest.SP) + 5u) & 0xFFFF);
        var finalAddrs = new HashSet<uint>();
        foreach (var (a, v) in t.FinalRam)
        {
            finalAddrs.Add(a);
            byte act = mem.Ram[a];
            byte m = a == flagsAt ? (byte)flagsMask : a == flagsHi ? (byte)(flagsMask >> 8) : (byte)0xFF;
            if ((act & m) != (v & m)) sb.Append($"[{a:X5}] {act:X2} != {v:X2}; ");
        }
        foreach (var (a, v) in t.InitRam)
            if (!finalAddrs.Contains(a) && mem.Ram[a] != v) sb.Append($"[{a:X5}] {mem.Ram[a]:X2} changed (was {v:X2}); ");
        return sb.Length == 0 ? null : sb.ToString();
    }
}
