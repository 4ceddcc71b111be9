using System.Reflection;
using System.Reflection.Emit;

namespace MiniVM.Cpu;

/// <summary>
/// Guest memory operands in a block's IL: the interpreter's fast path written out inline, everything else through
/// the interpreter's own access (the out-of-line <c>X86Cpu.Block*</c> wrappers), which applies every rule.
/// <para>
/// Inline: the segment check, with each used segment's base and fast limit (<see cref="X86Cpu.FastReadLimit"/>,
/// <see cref="X86Cpu.FastWriteLimit"/>) loaded once at block entry (no translated instruction changes a segment
/// register, the CPL or the checking state: those that can end their block); then the TLB probe of the current
/// privilege's region with the hit rule of <see cref="TlbEntry"/>, and a load or store at the host address. What an
/// entry may hold is decided where the interpreter fills it (X86Cpu.Mmu.cs): a write entry exists only for a RAM page
/// already dirty in the page tables, logged for savevm and holding no decoded code, so a hit needs no further check.
/// </para>
/// <para>
/// To the helper: a segment limit or type problem, a TLB miss, an access crossing a page, ROM, MMIO, a write to a
/// page with decoded code (self-modifying code), a page the write log has not seen since its last drain, and
/// everything while breakpoints or alignment checks are armed (the checked TLB region is never filled; no block runs
/// then anyway). The helper faults, fills the TLB, reaches devices and sets <c>_blockBreak</c> exactly as the
/// interpreter does. Its calls are placed at the end of the block's body, so the hits run straight through.
/// </para>
/// </summary>
internal sealed partial class BlockTranslator
{
    private static readonly FieldInfo FSeg = Field(nameof(X86Cpu.S));
    private static readonly FieldInfo FSegBase = typeof(SegmentCache).GetField(nameof(SegmentCache.Base))!;
    private static readonly FieldInfo FTlbRead = Field(nameof(X86Cpu._tlbRead));
    private static readonly FieldInfo FTlbWrite = Field(nameof(X86Cpu._tlbWrite));
    private static readonly MethodInfo MFastReadLimit = Method(nameof(X86Cpu.FastReadLimit));
    private static readonly MethodInfo MFastWriteLimit = Method(nameof(X86Cpu.FastWriteLimit));

    /// <summary>Segments the block reads / writes through (bit = segment register number), found while emitting.</summary>
    private int _segReads, _segWrites;

    /// <summary>Segments whose base and fast limits the prologue loads: the first pass's findings (0 in the first pass,
    /// whose IL only serves to find the registers and segments used, so its accesses all call the helpers).</summary>
    private int _segReadsLoaded, _segWritesLoaded;

    private readonly LocalBuilder?[] _segBase = new LocalBuilder?[6], _segReadLimit = new LocalBuilder?[6], _segWriteLimit = new LocalBuilder?[6];
    private LocalBuilder? _memOff, _memVal, _memLin, _memEntry;
    private readonly List<SlowAccess> _slowAccesses = [];

    /// <summary>The instruction being emitted (block index, offset): what a fault or a device reached on the slow path
    /// must see (<see cref="MayFault"/>). Stored there rather than before the instruction: a hit neither faults nor
    /// reaches a device, so the HasMemory forms, whose accesses are their only such points, skip it on the fast path.</summary>
    private (int Index, int Rel) _accessAt;

    private readonly record struct SlowAccess(Label Slow, Label Back, int Seg, int Size, bool Write, int Index, int Rel);

    private LocalBuilder Local(ref LocalBuilder? l, Type t) => l ??= _il.DeclareLocal(t);

    /// <summary>Prologue: base and fast limits of the segments the block accesses memory through.</summary>
    private void EmitSegmentSetup()
    {
        var il = _il;
        for (int seg = 0; seg < 6; seg++)
        {
            bool read = (_segReadsLoaded & (1 << seg)) != 0, write = (_segWritesLoaded & (1 << seg)) != 0;
            if (!read && !write) continue;
            This();
            il.Emit(OpCodes.Ldfld, FSeg);
            Const((uint)seg);
            il.Emit(OpCodes.Ldelema, typeof(SegmentCache));
            il.Emit(OpCodes.Ldfld, FSegBase);
            il.Emit(OpCodes.Stloc, Local(ref _segBase[seg], typeof(uint)));
            if (read)
            {
                This(); Const((uint)seg); Call(MFastReadLimit);
                il.Emit(OpCodes.Stloc, Local(ref _segReadLimit[seg], typeof(long)));
            }
            if (write)
            {
                This(); Const((uint)seg); Call(MFastWriteLimit);
                il.Emit(OpCodes.Stloc, Local(ref _segWriteLimit[seg], typeof(long)));
            }
        }
    }

    /// <summary>The helpers' calls for accesses that miss the fast path; emitted at the end of the body (inside its
    /// exception block, after its last leave), each returning to just after its access.</summary>
    private void EmitSlowAccesses()
    {
        var il = _il;
        foreach (var a in _slowAccesses)
        {
            il.MarkLabel(a.Slow);
            MayFault(a.Index, a.Rel);
            EmitHelperCall(a.Seg, a.Size, a.Write);
            il.Emit(OpCodes.Br, a.Back);
        }
        _slowAccesses.Clear();
    }

    private void EmitHelperCall(int seg, int size, bool write)
    {
        This();
        Const((uint)seg);
        _il.Emit(OpCodes.Ldloc, _memOff!);
        if (write)
        {
            _il.Emit(OpCodes.Ldloc, _memVal!);
            if (size == 1) _il.Emit(OpCodes.Conv_U1);
            else if (size == 2) _il.Emit(OpCodes.Conv_U2);
        }
        Call(size switch
        {
            1 => write ? MWrite8 : MRead8,
            2 => write ? MWrite16 : MRead16,
            _ => write ? MWriteM32 : MReadM32,
        });
    }

    // Stack contract of the access emitters, the same as the helpers' (so each call site reads as before):
    // reads take (cpu, segment, offset) and leave the value; writes take (cpu, segment, offset, value).

    private void Read32(int seg) => Access(seg, 4, write: false);
    private void Read16(int seg) => Access(seg, 2, write: false);
    private void Read8(int seg) => Access(seg, 1, write: false);
    private void Store32(int seg) => Access(seg, 4, write: true);
    private void Store16(int seg) => Access(seg, 2, write: true);
    private void Store8(int seg) => Access(seg, 1, write: true);

    private void Access(int seg, int size, bool write)
    {
        var il = _il;
        var off = Local(ref _memOff, typeof(uint));
        if (write) il.Emit(OpCodes.Stloc, Local(ref _memVal, typeof(uint)));
        il.Emit(OpCodes.Stloc, off);
        Pop(); // the segment number: a constant here
        Pop(); // the CPU: the fast path reads its fields through arg 0
        int bit = 1 << seg;
        if (write) _segWrites |= bit; else _segReads |= bit;
        if (((write ? _segWritesLoaded : _segReadsLoaded) & bit) == 0)
        {
            MayFault(_accessAt.Index, _accessAt.Rel);
            EmitHelperCall(seg, size, write);
            return;
        }
        var lin = Local(ref _memLin, typeof(uint));
        var entry = Local(ref _memEntry, typeof(nint));
        var slow = il.DefineLabel();
        var back = il.DefineLabel();
        // Segment: the last byte's offset within the fast limit (-1: never), as LinearForRead/LinearForWrite.
        il.Emit(OpCodes.Ldloc, off);
        il.Emit(OpCodes.Conv_U8);
        if (size > 1) { il.Emit(OpCodes.Ldc_I8, (long)(size - 1)); il.Emit(OpCodes.Add); }
        il.Emit(OpCodes.Ldloc, write ? _segWriteLimit[seg]! : _segReadLimit[seg]!);
        il.Emit(OpCodes.Bgt, slow);
        il.Emit(OpCodes.Ldloc, off);
        il.Emit(OpCodes.Ldloc, _segBase[seg]!);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stloc, lin);
        // TLB probe: region + ((lin >> 12) & TlbMask) * TlbEntry.Size, the index X86Cpu's own lookup uses.
        This();
        il.Emit(OpCodes.Ldfld, write ? FTlbWrite : FTlbRead);
        il.Emit(OpCodes.Ldloc, lin);
        Const((uint)(12 - System.Numerics.BitOperations.Log2(TlbEntry.Size)));
        il.Emit(OpCodes.Shr_Un);
        Const((uint)(X86Cpu.TlbMask * TlbEntry.Size));
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Conv_U);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stloc, entry);
        // Hit: the entry maps the page of the access's last byte (TlbEntry's rule).
        il.Emit(OpCodes.Ldloc, entry);
        il.Emit(OpCodes.Ldind_U4);
        il.Emit(OpCodes.Ldloc, lin);
        if (size > 1) { Const((uint)(size - 1)); il.Emit(OpCodes.Add); }
        Const(12);
        il.Emit(OpCodes.Shr_Un);
        il.Emit(OpCodes.Bne_Un, slow);
        // Host address = entry.Host + lin.
        il.Emit(OpCodes.Ldloc, entry);
        Const(TlbEntry.HostOffset);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Ldind_I);
        il.Emit(OpCodes.Ldloc, lin);
        il.Emit(OpCodes.Conv_U);
        il.Emit(OpCodes.Add);
        if (write) il.Emit(OpCodes.Ldloc, _memVal!);
        if (size > 1) il.Emit(OpCodes.Unaligned, (byte)1);
        il.Emit(size switch
        {
            1 => write ? OpCodes.Stind_I1 : OpCodes.Ldind_U1,
            2 => write ? OpCodes.Stind_I2 : OpCodes.Ldind_U2,
            _ => write ? OpCodes.Stind_I4 : OpCodes.Ldind_U4,
        });
        il.MarkLabel(back);
        _slowAccesses.Add(new SlowAccess(slow, back, seg, size, write, _accessAt.Index, _accessAt.Rel));
    }
}
