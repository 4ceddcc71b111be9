using System.Text;

namespace MiniVM.Cpu.Tests.Differential;

/// <summary>What one engine did with one program: named values in the order they were recorded, then memory.</summary>
public sealed class Observation
{
    private readonly List<(string Field, string Value)> _fields = [];

    public byte[] Memory { get; set; } = [];

    /// <summary>Summary figures for the harness's own checks and report (not compared: the fields already are).</summary>
    public bool Halted { get; set; }
    public long Instructions { get; set; }
    public List<int> Vectors { get; } = [];

    public IReadOnlyList<(string Field, string Value)> Fields => _fields;

    public void Add(string field, long value) => _fields.Add((field, "0x" + value.ToString("X")));

    public void Add(string field, uint value) => _fields.Add((field, "0x" + value.ToString("X8")));

    public void Add(string field, string value) => _fields.Add((field, value));

    /// <summary>The first field (or memory byte) that differs, described with both values; null when they agree.</summary>
    public static string? FirstDifference(Observation expected, Observation actual, string expectedName, string actualName)
    {
        int n = Math.Min(expected._fields.Count, actual._fields.Count);
        for (int i = 0; i < n; i++)
        {
            var (f, e) = expected._fields[i];
            var (g, a) = actual._fields[i];
            if (f != g || e != a)
                return $"{f}: {expectedName} {e}, {actualName} {(f == g ? a : g + " = " + a)}";
        }
        if (expected._fields.Count != actual._fields.Count)
            return $"{expectedName} recorded {expected._fields.Count} fields, {actualName} {actual._fields.Count}";
        int at = expected.Memory.AsSpan().CommonPrefixLength(actual.Memory);
        if (at == expected.Memory.Length && at == actual.Memory.Length) return null;
        var sb = new StringBuilder($"memory at 0x{at:X5}: {expectedName}");
        for (int k = 0; k < 16 && at + k < expected.Memory.Length; k++) sb.Append($" {expected.Memory[at + k]:X2}");
        sb.Append($", {actualName}");
        for (int k = 0; k < 16 && at + k < actual.Memory.Length; k++) sb.Append($" {actual.Memory[at + k]:X2}");
        return sb.ToString();
    }
}
