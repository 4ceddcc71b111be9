namespace MiniVM.Cpu;

/// <summary>
/// One translated block: a run of consecutive decoded instructions of one physical page, through conditional
/// branches (which leave it only when taken out of it), compiled to IL. It hangs off
/// the <see cref="DecodedOp"/> of its first instruction, so the decode cache's write tracking drops it together with
/// the decoded bytes (self-modifying code, DMA) and no second invalidation mechanism exists.
/// </summary>
internal sealed class TranslatedBlock(Func<int, int, int> run, int count, int bytes, bool needsStack32, int ilBytes)
{
    /// <summary>
    /// Runs the block from the current EIP; the first argument is the count the run loop has completed so far in
    /// this stretch (so a device reached mid-block sees the exact instruction count), the second the stretch's budget
    /// (at least the first plus <see cref="Count"/>; a branch back into the block continues inside it only while
    /// another <see cref="Count"/> instructions fit). Returns the stretch's count after the block and the blocks it
    /// chained to (see <c>X86Cpu.NextBlock</c>); a taken branch out of the block, a write to code or an MMIO access
    /// ends it early. A fault propagates as <see cref="GuestFault"/> with registers, EIP and ESP of the faulting
    /// instruction written back.
    /// The delegate is bound to its CPU (the compiled method's first argument): a delegate closed over a static method's
    /// first argument is invoked without the argument-shuffling thunk the open form cost on every chained entry.
    /// </summary>
    public readonly Func<int, int, int> Run = run;
    public readonly int Count = count;
    /// <summary>Code bytes from the first instruction to the end of the last: all must lie within CS's limit.</summary>
    public readonly int Bytes = bytes;
    /// <summary>Has PUSH/POP/CALL/RET/LEAVE, which are translated for a 32-bit (SS.B = 1) stack only.</summary>
    public readonly bool NeedsStack32 = needsStack32;
    public readonly int IlBytes = ilBytes;
    /// <summary>
    /// Not compiled by the .NET JIT yet. Compiled in the foreground, the block's first run compiles it (timed as
    /// translation); compiled in the background (<see cref="X86Cpu.JitCompileInBackground"/>), a worker thread clears
    /// this once the code is ready, and until then the interpreter runs the block's instructions.
    /// </summary>
    public volatile bool Cold = true;

    /// <summary>First argument of <see cref="Run"/> that only compiles the block: it returns before touching the CPU.</summary>
    public const int CompileOnly = -1;
}
