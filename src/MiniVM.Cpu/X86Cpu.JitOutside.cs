using Iced.Intel;

namespace MiniVM.Cpu;

/// <summary>Why the translating engine's run loop ran an instruction through the interpreter instead of a block.</summary>
public enum OutsideBlockReason
{
    /// <summary>No block starts here (yet): code under the tiering threshold, or whose first instruction blocks do not cover.</summary>
    NoBlock,
    /// <summary>Its block is still being compiled on the worker thread (or it lies inside such a block).</summary>
    Compiling,
    /// <summary>Its block does not fit the instruction budget left to the next deadline (the interpreter runs the tail).</summary>
    Budget,
    /// <summary>Its block may not be entered here: CS limit, 16-bit wrap, or a 16-bit stack.</summary>
    Entry,
    /// <summary>Run by the careful loop (TF/RF, breakpoints, an interrupt shadow, INTR possibly pending).</summary>
    Careful,
}

// Counts of the instructions the translating engine ran outside blocks, by reason and by mnemonic: where the
// interpreter's share of a run comes from (monitor: info jit-stops). One array increment per interpreted instruction.
public sealed partial class X86Cpu
{
    private readonly long[] _jitOutside = new long[Enum.GetValues<OutsideBlockReason>().Length];
    private readonly long[] _jitOutsideMnemonics = new long[Enum.GetValues<Mnemonic>().Length];

    /// <summary>Instructions run outside translated blocks (jit engine only), by reason.</summary>
    public long OutsideBlocks(OutsideBlockReason reason) => _jitOutside[(int)reason];

    /// <summary>The mnemonics the jit engine's run loop interpreted most (outside blocks, any reason), most frequent first.</summary>
    public IReadOnlyList<(string Mnemonic, long Count)> OutsideBlockMnemonics(int top) =>
        _jitOutsideMnemonics.Select((n, m) => (((Mnemonic)m).ToString().ToLowerInvariant(), n))
            .Where(e => e.n > 0).OrderByDescending(e => e.n).Take(top).ToList();

    /// <summary>
    /// The monitor's <c>info jit-stops</c>: the untranslated instructions blocks stopped before (<see cref="JitStops"/>),
    /// then the instructions run outside blocks by reason and the mnemonics most interpreted there.
    /// </summary>
    public string JitStopsReport()
    {
        var lines = JitStops(20).Select(s => $"{s.Mnemonic,-12} {s.Count}").ToList();
        lines.Add("outside blocks: " + string.Join(", ", Enum.GetValues<OutsideBlockReason>().Select(r => $"{r.ToString().ToLowerInvariant()} {OutsideBlocks(r)}")));
        lines.AddRange(OutsideBlockMnemonics(20).Select(s => $"  {s.Mnemonic,-12} {s.Count}"));
        return string.Join('\n', lines);
    }

    private void CountOutside(OutsideBlockReason reason, in DecodedOp op)
    {
        _jitOutside[(int)reason]++;
        _jitOutsideMnemonics[(int)op.Ins.Mnemonic]++;
    }
}
