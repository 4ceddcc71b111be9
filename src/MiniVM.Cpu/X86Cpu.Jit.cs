using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace MiniVM.Cpu;

// The translating engine's side of the run loop: tiering, block entry and the code cache. A block is entered only
// where the interpreter would run its first instruction next with nothing able to interrupt (RunUninterrupted),
// only when all of it fits the instruction budget, and only when its bytes lie within CS's limit; otherwise the
// interpreter runs that instruction. Translation itself is in BlockTranslator.
public sealed partial class X86Cpu
{
    /// <summary>Entries into an untranslated block before it is translated (1..65535): cold code stays interpreted.</summary>
    public int JitThreshold
    {
        get => _jitThreshold;
        set => _jitThreshold = value is >= 1 and <= ushort.MaxValue ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "1..65535");
    }

    // Compiling a block costs the .NET JIT about a millisecond of CPU: on the Linux boot's first 3 G instructions
    // a threshold of 2000 spent more time compiling than 20000 saved by running more code translated. With background
    // compilation (Linux boot to its marker, the three side by side): 5000 and 2000 cut the instructions run outside
    // blocks from 4.9 % to 2.5 % and 1.5 %, but not the CPU thread's time (43.5 / 44.0 / 45.0 CPU-s, 2.4x the blocks).
    private int _jitThreshold = 20000;

    private CpuEngine _engine = CpuEngine.Interpreter;

    /// <summary>
    /// The execution engine; switchable between <see cref="Run"/> calls. Switching drops every translation. Both
    /// engines give the same registers, memory, faults and instruction counts.
    /// </summary>
    public CpuEngine Engine
    {
        get => _engine;
        set
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "not a CPU engine");
            _engine = value;
            DropTranslations(eviction: false);
        }
    }

    /// <summary>
    /// Compile translated blocks on a worker thread while the interpreter runs on (false: on the CPU's thread, at the
    /// block's first run). Either way the guest sees the same instructions, counts and device timings, since a block
    /// and the interpreter are interchangeable at every instruction boundary; only when a block starts to be used
    /// (and so <see cref="JitStatistics"/>) depends on the host. The translation itself (decoding, IL) stays on the
    /// CPU's thread: only the .NET JIT's compilation, the expensive part, moves.
    /// </summary>
    public bool JitCompileInBackground { get => _jitBackground; set => _jitBackground = value; }

    private bool _jitBackground;

    /// <summary>Translated blocks the code cache holds before it is emptied to make room.</summary>
    public int JitCacheCapacity { get; set; } = 16384;

    /// <summary>
    /// IL bytes the code cache holds before it is emptied to make room (a block larger than this still fits alone).
    /// With <see cref="JitCacheCapacity"/> this bounds the translations' memory over any run: dropped blocks are
    /// collectible DynamicMethods, freed by the garbage collector with their native code.
    /// </summary>
    public long JitCacheIlBytes { get; set; } = 16 << 20;

    private long _jitBlocksTranslated, _jitInstructionsTranslated, _jitTicks, _jitEvictions, _jitFlushes, _jitRuns, _jitChained, _jitInstructionsRun;
    private int _jitLiveBlocks;
    private long _jitLiveIl;

    /// <summary>Set by anything that must end a translated block after the current instruction: a write to a page
    /// holding decoded code, an MMIO or unmapped access (a device may raise INTR or re-map memory).</summary>
    internal bool _blockBreak;

    public JitStatistics JitStatistics => new(
        _jitBlocksTranslated, _jitInstructionsTranslated, TimeSpan.FromSeconds((double)(_jitTicks + Interlocked.Read(ref _jitBackgroundTicks)) / Stopwatch.Frequency),
        _jitLiveBlocks, _jitLiveIl, _jitEvictions, _jitFlushes, _jitRuns, _jitChained, _jitInstructionsRun);

    /// <summary>Forgets all translations (engine switch, loadvm, reset, or a full cache).</summary>
    internal void DropTranslations(bool eviction)
    {
        if (_jitLiveBlocks == 0) return;
        _mem.Code.DropTranslations();
        _jitLiveBlocks = 0;
        _jitLiveIl = 0;
        if (eviction) _jitEvictions++; else _jitFlushes++;
    }

    /// <summary><see cref="RunUninterrupted"/> with translated blocks: same contract, same counts.</summary>
    private int RunUninterruptedJit(int budget)
    {
        int n = 0;
        // The EIP range of the last block seen still compiling: its instructions, run by the interpreter meanwhile,
        // do not count towards translating blocks of their own.
        uint pendingFrom = 0, pendingBytes = 0;
        do
        {
            _uninterruptedDone = n;
            _startEip = Eip_;
            _startEsp = Gpr(4);
            ref DecodedOp op = ref Fetch();
            TranslatedBlock? b = op.Block;
            // Translation may grow the page's entry array: op then stays a valid copy to execute.
            if (b is null && Eip_ - pendingFrom >= pendingBytes && ++op.Heat == _jitThreshold && !Unsafe.AreSame(ref op, ref _scratch)) b = TranslateHot(ref op);
            // A block compiling in the background is not ready: the interpreter runs its instructions meanwhile.
            if (b is not null && b.Count <= budget - n && CanEnter(b) && !(b.Cold && _jitBackground))
            {
                _blockBreak = false;
                int before = n;
                _jitRuns++;
                if (b.Cold)
                {
                    // The first run includes the .NET JIT's compilation: timed alone, without chaining on.
                    _chaining = false;
                    long t0 = Stopwatch.GetTimestamp();
                    try { n = b.Run(n, budget); }
                    finally { _chaining = true; }
                    _jitTicks += Stopwatch.GetTimestamp() - t0;
                    b.Cold = false;
                }
                else n = b.Run(n, budget);
                _jitInstructionsRun += n - before;
                continue;
            }
            if (b is not null && b.Cold && _jitBackground) { pendingFrom = Eip_; pendingBytes = (uint)b.Bytes; }
            CountOutside(b is null ? (Eip_ - pendingFrom < pendingBytes ? OutsideBlockReason.Compiling : OutsideBlockReason.NoBlock)
                : b.Cold && _jitBackground ? OutsideBlockReason.Compiling
                : b.Count > budget - n ? OutsideBlockReason.Budget : OutsideBlockReason.Entry, in op);
            uint next = Eip_ + op.Length;
            Eip_ = CodeBits == 32 ? next : next & 0xFFFF;
            if (op.Form != FastForm.General) ExecuteFast(ref op);
            else ExecuteGeneral(in op.Ins);
            n++;
        }
        while (n < budget && !Halted_ && Uninterrupted);
        _uninterruptedDone = 0;
        return n;
    }

    /// <summary>False while a block's first (compiling) run is timed.</summary>
    private bool _chaining = true;

    /// <summary>
    /// Called by every block's exit with the registers and EIP written back: the successor block the run loop would
    /// enter next, or null to return to the run loop. This is block linking without a second cache: the decode cache's
    /// page index, which the written-code-page tracking keeps right (SMC, DMA), finds the successor, so nothing
    /// can follow a stale link. It takes the run loop's step exactly: a successor on another linear page is fetched
    /// through the page tables just as <see cref="Fetch"/> would (accessed bits, #PF with the run loop's count and
    /// EIP); it is entered only if it is warm, fits the budget and passes <see cref="CanEnter"/>. The run loop's
    /// other re-checks (halt, IF/TF/RF/AC, breakpoints, the interrupt shadow, INTR, NMI) cannot have changed since the
    /// block was entered: no translated instruction changes them, and a device can change INTR or NMI only when an
    /// MMIO access reaches it, which sets <see cref="_blockBreak"/> and so returns to the run loop.
    /// </summary>
    internal Func<int, int, int>? NextBlock(int n, int budget)
    {
        if (_blockBreak || !_chaining || n >= budget) return null;
        uint lin = CsBase + Eip_;
        if (lin >> 12 != _fetchPage)
        {
            _uninterruptedDone = n;
            _startEip = Eip_;
            _startEsp = Gpr(4);
            ResolveFetchPage(lin);
        }
        var index = _fetchIndex;
        if (index is null) return null;
        int e = index[lin & 0xFFF];
        if (e == 0 || (e & DecodedPage.Code32Flag) != _codeFlag) return null;
        TranslatedBlock? b = _fetchEntries[(e & (DecodedPage.Code32Flag - 1)) - 1].Block;
        if (b is null || b.Cold || b.Count > budget - n || !CanEnter(b)) return null;
        _blockBreak = false;
        _jitRuns++;
        _jitChained++;
        return b.Run;
    }

    /// <summary>Host ticks the worker threads spent compiling blocks (added to the translation time).</summary>
    private long _jitBackgroundTicks;

    private void CompileInBackground(TranslatedBlock block)
    {
        long t0 = Stopwatch.GetTimestamp();
        block.Run(TranslatedBlock.CompileOnly, 0);
        Interlocked.Add(ref _jitBackgroundTicks, Stopwatch.GetTimestamp() - t0);
        block.Cold = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool CanEnter(TranslatedBlock b)
    {
        ulong end = (ulong)Eip_ + (uint)b.Bytes - 1;
        if (end > CsLimit) return false;
        if (CodeBits == 16 && end > 0xFFFF) return false;
        return !b.NeedsStack32 || Stack32;
    }

    /// <summary>
    /// The tiering decision once an instruction has been entered <see cref="JitThreshold"/> times: translate, unless
    /// its page keeps being rewritten; there each earlier clear of the page (up to 12) asks for another threshold's
    /// worth of entries, and a clear restarts the count, so code sharing a page with busy data stays interpreted.
    /// </summary>
    private TranslatedBlock? TranslateHot(ref DecodedOp op)
    {
        int clears = _fetchDecoded?.Clears ?? 0;
        if (clears > 0)
        {
            if (op.HeatRounds < Math.Min(clears, 12)) { op.HeatRounds++; op.Heat = 0; return null; }
        }
        return Translate(CsBase + Eip_);
    }

    /// <summary>Translates the block starting at linear <paramref name="lin"/> (on the current fetch page) and hangs it off its first instruction.</summary>
    private TranslatedBlock? Translate(uint lin)
    {
        var page = _fetchDecoded;
        // Without specialised forms nothing is pre-decoded into the operand fields the translator reads.
        if (page is null || !_specialised) return null;
        if (_jitLiveBlocks >= JitCacheCapacity) DropTranslations(eviction: true);
        long t0 = Stopwatch.GetTimestamp();
        int offset = (int)(lin & 0xFFF);
        var block = BlockTranslator.Translate(this, page, offset);
        _fetchEntries = page.Entries; // decoding the block's later instructions may have grown the array
        _jitTicks += Stopwatch.GetTimestamp() - t0;
        if (block is null) return null;
        if (_jitLiveIl + block.IlBytes > JitCacheIlBytes) DropTranslations(eviction: true);
        int e = page.Index[offset];
        if (e == 0 || (e & DecodedPage.Code32Flag) != _codeFlag) return null;
        page.Entries[(e & (DecodedPage.Code32Flag - 1)) - 1].Block = block;
        _jitBlocksTranslated++;
        _jitInstructionsTranslated += block.Count;
        if (_jitBackground) BlockCompilerThread.Enqueue(() => CompileInBackground(block));
        _jitLiveBlocks++;
        _jitLiveIl += block.IlBytes;
        return block;
    }

    /// <summary>
    /// The decoded instruction at <paramref name="offset"/> of the current fetch page for the current code size,
    /// decoding and caching it if needed; null when it would cross the page end or is invalid. For the translator,
    /// which looks ahead without executing, so nothing here faults or touches architectural state.
    /// </summary>
    internal DecodedOp? PeekDecoded(DecodedPage page, int offset)
    {
        int e = page.Index[offset];
        if (e != 0 && (e & DecodedPage.Code32Flag) == _codeFlag) return page.Entries[(e & (DecodedPage.Code32Flag - 1)) - 1];
        int n = Math.Min(15, 0x1000 - offset);
        uint phys = (_fetchPhysPage << 12) | (uint)offset;
        var bytes = new byte[15];
        ReadCodeBytes(phys, bytes.AsSpan(0, n));
        var decoder = CodeBits == 32 ? _dec32 : _dec16;
        _codeReader.Reset(bytes, n);
        decoder.IP = (ulong)offset;
        var d = new DecodedOp();
        decoder.Decode(out d.Ins);
        if (decoder.LastError != Iced.Intel.DecoderError.None || d.Ins.Code == Iced.Intel.Code.INVALID) return null;
        Predecode(ref d, CodeBits);
        page.Add(offset, in d, CodeBits);
        return d;
    }

    // The slow path of translated blocks' memory accesses (a TLB miss, a page crossing, a segment check to make, ROM,
    // MMIO, a write to code): blocks run the TLB hit inline in their IL (BlockTranslator.Memory.cs) and call these
    // otherwise, out of line so that each access adds one call to the block's code, not a second copy of the rules.
    [MethodImpl(MethodImplOptions.NoInlining)] internal uint BlockReadM32(int seg, uint off) => ReadM32(seg, off);
    [MethodImpl(MethodImplOptions.NoInlining)] internal void BlockWriteM32(int seg, uint off, uint v) => WriteM32(seg, off, v);
    [MethodImpl(MethodImplOptions.NoInlining)] internal byte BlockRead8(int seg, uint off) => Read8(seg, off);
    [MethodImpl(MethodImplOptions.NoInlining)] internal ushort BlockRead16(int seg, uint off) => Read16(seg, off);
    [MethodImpl(MethodImplOptions.NoInlining)] internal void BlockWrite8(int seg, uint off, byte v) => Write8(seg, off, v);
    [MethodImpl(MethodImplOptions.NoInlining)] internal void BlockWrite16(int seg, uint off, ushort v) => Write16(seg, off, v);
}
