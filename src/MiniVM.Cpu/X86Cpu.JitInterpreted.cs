using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// The translating engine's way into the interpreter for instructions a block does not compute in IL (see
// BlockTranslator.Interpreted.cs), and the counts of the untranslated instructions blocks stop before.
public sealed partial class X86Cpu
{
    /// <summary>Per Iced mnemonic: times a translated block ran to its end and stopped before an instruction of it.</summary>
    internal readonly long[] _jitStops = new long[Enum.GetValues<Mnemonic>().Length];

    /// <summary>
    /// The untranslated instructions translated blocks ran into most (each run to a block's end counts its next
    /// instruction's mnemonic), most frequent first: what the translator should cover next. For the monitor's
    /// <c>info jit-stops</c>.
    /// </summary>
    public IReadOnlyList<(string Mnemonic, long Count)> JitStops(int top) =>
        _jitStops.Select((n, m) => (((Mnemonic)m).ToString().ToLowerInvariant(), n))
            .Where(e => e.n > 0).OrderByDescending(e => e.n).Take(top).ToList();

    /// <summary>
    /// Runs the instruction at <paramref name="pageOffset"/> of the current fetch page (the block's page) as the run
    /// loop would: EIP already past it, the instruction's own EIP and ESP kept for a fault. The block has written its
    /// registers back and reloads them afterwards.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void BlockInterpret(int pageOffset, uint start, uint next)
    {
        _startEip = start;
        _startEsp = R[4];
        Eip_ = next;
        var page = _fetchDecoded ?? throw new InvalidOperationException("a translated block runs without its code page");
        int e = page.Index[pageOffset];
        if (e != 0 && (e & DecodedPage.Code32Flag) == _codeFlag)
        {
            ref DecodedOp op = ref page.Entries[(e & (DecodedPage.Code32Flag - 1)) - 1];
            if (op.Form != FastForm.General) ExecuteFast(ref op);
            else ExecuteGeneral(in op.Ins);
            return;
        }
        // The page's entry table was recycled since translation: decode the (unchanged, else the block was dropped) bytes again.
        DecodedOp d = PeekDecoded(page, pageOffset) ?? throw new InvalidOperationException($"no instruction at page offset {pageOffset:X3}");
        if (d.Form != FastForm.General) ExecuteFast(ref d);
        else ExecuteGeneral(in d.Ins);
    }
}
