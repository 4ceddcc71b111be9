using System.Reflection;
using System.Reflection.Emit;


namespace MiniVM.Cpu;

/// <summary>
/// Compiles a straight run of pre-decoded instructions (the <see cref="FastForm"/> shapes) into one
/// <see cref="DynamicMethod"/>. Semantics are the interpreter's: every memory access (its TLB hit inline, everything
/// else through the interpreter's access, see BlockTranslator.Memory.cs), flag record and helper the fast path uses is called from the IL in the same order, so faults, lazy flags and device timing match it; what
/// goes away is the per-instruction fetch, cache lookup and dispatch, and operands become IL constants.
/// Guest registers live in IL locals for the block and are written back at every exit; a <see cref="GuestFault"/>
/// writes them back too, with EIP and ESP of the faulting instruction, before it reaches the run loop.
/// A block runs on through conditional branches (taken out of the block they leave it) and ends after an
/// unconditional transfer, before an instruction it does not translate, at the page end, or at
/// <see cref="MaxInstructions"/>. A relative branch to an instruction of the block stays in the IL (loops, skips),
/// so a hot loop within a page runs without returning to the run loop.
/// </summary>
internal sealed partial class BlockTranslator
{
    public const int MaxInstructions = 64;

    private const BindingFlags Any = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
    private static readonly FieldInfo FR = Field(nameof(X86Cpu.R));
    private static readonly FieldInfo FEip = Field(nameof(X86Cpu.Eip_));
    private static readonly FieldInfo FDone = Field("_uninterruptedDone");
    private static readonly FieldInfo FStartEip = Field("_startEip");
    private static readonly FieldInfo FStartEsp = Field("_startEsp");
    private static readonly FieldInfo FBreak = Field(nameof(X86Cpu._blockBreak));
    private static readonly MethodInfo MReadM32 = Method(nameof(X86Cpu.BlockReadM32));
    private static readonly MethodInfo MWriteM32 = Method(nameof(X86Cpu.BlockWriteM32));
    private static readonly MethodInfo MRead8 = Method(nameof(X86Cpu.BlockRead8));
    private static readonly MethodInfo MRead16 = Method(nameof(X86Cpu.BlockRead16));
    private static readonly MethodInfo MWrite8 = Method(nameof(X86Cpu.BlockWrite8));
    private static readonly MethodInfo MWrite16 = Method(nameof(X86Cpu.BlockWrite16));
    private static readonly MethodInfo MLazyAdd = Method("LazyAdd32");
    private static readonly MethodInfo MLazySub = Method("LazySub32");
    private static readonly MethodInfo MLazyLogic = Method("LazyLogic32");
    private static readonly MethodInfo MLazyInc = Method("LazyInc32");
    private static readonly MethodInfo MLazyDec = Method("LazyDec32");
    private static readonly MethodInfo MLogic = Method(nameof(X86Cpu.Logic));
    private static readonly MethodInfo MAlu = Method(nameof(X86Cpu.Alu));
    private static readonly MethodInfo MInc = Method(nameof(X86Cpu.Inc));
    private static readonly MethodInfo MDec = Method(nameof(X86Cpu.Dec));
    private static readonly MethodInfo MTestCondition = Method("TestCondition");
    private static readonly MethodInfo MZeroNow = typeof(X86Cpu).GetProperty("ZeroFlagNow", Any)!.GetMethod!;
    private static readonly MethodInfo MBranchTarget = Method(nameof(X86Cpu.BranchTarget));
    private static readonly FieldInfo FLazyA = Field("_lazyA");
    private static readonly FieldInfo FLazyB = Field("_lazyB");
    private static readonly FieldInfo FLazyRes = Field("_lazyRes");
    private static readonly MethodInfo MNextBlock = Method(nameof(X86Cpu.NextBlock));
    private static readonly MethodInfo MInvoke = typeof(Func<int, int, int>).GetMethod("Invoke")!;

    // The lazy-flags record kinds (X86Cpu.LazyFlags.cs), as far as the translator knows them at a point of the block.
    private const int KindUnknown = -1, KindAdd = 1, KindSub = 2, KindLogic = 3, KindInc = 4, KindDec = 5;

    private static FieldInfo Field(string name) => typeof(X86Cpu).GetField(name, Any) ?? throw new MissingFieldException(nameof(X86Cpu), name);
    private static MethodInfo Method(string name) => typeof(X86Cpu).GetMethod(name, Any) ?? throw new MissingMethodException(nameof(X86Cpu), name);

    private readonly ILGenerator _il;
    private readonly LocalBuilder[] _reg = new LocalBuilder[8];
    private readonly LocalBuilder _entryEip, _curOff, _exitEip, _exitCount, _ea, _tmp, _base;
    private readonly Label _exit;
    /// <summary>The start of each instruction of the block; branches to one of them stay inside the IL.</summary>
    private Label[] _at = [];
    /// <summary>Per instruction: the block index of its relative branch's target when that lies in the block, else -1.</summary>
    private int[] _inner = [];
    /// <summary>Per instruction: some branch of the block jumps to it, so control merges there.</summary>
    private bool[] _merge = [];
    private int[] _rel = [];
    private int _blockCount;
    /// <summary>Registers the block reads or writes (loaded at entry) and writes (stored at exits).</summary>
    private int _used, _written;
    private readonly bool _code16;
    /// <summary>Which lazy record the last flag-setting instruction of the block left, so a condition can be read
    /// straight from its operands instead of through <c>TestCondition</c>'s switch.</summary>
    private int _flagKind = KindUnknown;

    private BlockTranslator(ILGenerator il, bool code16)
    {
        _il = il;
        _code16 = code16;
        for (int k = 0; k < 8; k++) _reg[k] = il.DeclareLocal(typeof(uint));
        _entryEip = il.DeclareLocal(typeof(uint));
        _curOff = il.DeclareLocal(typeof(uint));
        _exitEip = il.DeclareLocal(typeof(uint));
        _exitCount = il.DeclareLocal(typeof(int));
        _base = il.DeclareLocal(typeof(int));
        _ea = il.DeclareLocal(typeof(uint));
        _tmp = il.DeclareLocal(typeof(uint));
        _exit = il.DefineLabel();
    }

    /// <summary>Translates the block starting at <paramref name="offset"/> of the CPU's current fetch page; null when its first instruction is not translatable.</summary>
    public static TranslatedBlock? Translate(X86Cpu cpu, DecodedPage page, int offset)
    {
        var ops = new List<(DecodedOp Op, int Rel)>();
        int off = offset;
        var stop = Iced.Intel.Mnemonic.INVALID; // the untranslated instruction the block stops before, if any
        bool needsStack32 = false;
        while (ops.Count < MaxInstructions && off < PhysicalMemory.PageSize)
        {
            DecodedOp? d = cpu.PeekDecoded(page, off);
            if (d is null || !Translatable(d.Value)) { stop = d?.Ins.Mnemonic ?? Iced.Intel.Mnemonic.INVALID; break; }
            if (off + d.Value.Length > PhysicalMemory.PageSize) break;
            ops.Add((d.Value, off - offset));
            needsStack32 |= UsesStack(d.Value.Form);
            off += d.Value.Length;
            if ((EndsBlock(d.Value.Form) && !Conditional(d.Value.Form)) || EndsBlock(Interpreted(d.Value))) break;
        }
        if (ops.Count == 0) return null;
        bool code16 = cpu.CodeBits == 16;
        // Pass 1 finds the registers the block touches, so pass 2 loads and stores only those.
        var probe = new DynamicMethod("x86probe", typeof(int), [typeof(X86Cpu), typeof(int), typeof(int)], typeof(X86Cpu), skipVisibility: true);
        var first = new BlockTranslator(probe.GetILGenerator(), code16) { _pageOffset = offset, _stop = stop };
        first.EmitBody(ops, off - offset);
        var dm = new DynamicMethod($"x86block_{offset:X3}", typeof(int), [typeof(X86Cpu), typeof(int), typeof(int)], typeof(X86Cpu), skipVisibility: true);
        var t = new BlockTranslator(dm.GetILGenerator(), code16) { _used = first._used, _written = first._written, _pageOffset = offset, _stop = stop,
            _segReadsLoaded = first._segReads, _segWritesLoaded = first._segWrites };
        t.EmitBody(ops, off - offset);
        int ilBytes = t._il.ILOffset;
        var run = dm.CreateDelegate<Func<int, int, int>>(cpu); // bound to the CPU: see TranslatedBlock.Run
        return new TranslatedBlock(run, ops.Count, off - offset, needsStack32, ilBytes);
    }

    private static bool Translatable(in DecodedOp d) => d.Form switch
    {
        FastForm.General => NativeGeneral(d) || Interpreted(d) != Callout.None,
        _ => true,
    };

    /// <summary>General forms the block computes in its own IL (the rest it hands to the interpreter's handler).</summary>
    private static bool NativeGeneral(in DecodedOp d) =>
        d.Form == FastForm.General && (GeneralAluOp(d.Ins.Code) >= 0 || d.Ins.Code == Iced.Intel.Code.Mul_rm32) && Described(d.Ins);

    /// <summary>
    /// ADC/SBB r/m32 forms, which the interpreter runs through its general path (Alu with eager flags): their op
    /// number (2 ADC, 3 SBB), else -1. With MUL r/m32 they carry the kernel's multi-precision loops (lib/mpi).
    /// </summary>
    private static int GeneralAluOp(Iced.Intel.Code c) => c switch
    {
        Iced.Intel.Code.Adc_rm32_r32 or Iced.Intel.Code.Adc_r32_rm32 or Iced.Intel.Code.Adc_rm32_imm8
            or Iced.Intel.Code.Adc_rm32_imm32 or Iced.Intel.Code.Adc_EAX_imm32 => 2,
        Iced.Intel.Code.Sbb_rm32_r32 or Iced.Intel.Code.Sbb_r32_rm32 or Iced.Intel.Code.Sbb_rm32_imm8
            or Iced.Intel.Code.Sbb_rm32_imm32 or Iced.Intel.Code.Sbb_EAX_imm32 => 3,
        _ => -1,
    };

    /// <summary>Pre-decoding filled the operand fields (register indices, memory descriptor): it gives up on
    /// memory operands whose base or index is not a 16/32-bit GPR, leaving them unset.</summary>
    private static bool Described(in Iced.Intel.Instruction ins)
    {
        static bool Gpr(Iced.Intel.Register r) => r == Iced.Intel.Register.None || Iced.Intel.RegisterExtensions.IsGPR32(r) || Iced.Intel.RegisterExtensions.IsGPR16(r);
        bool mem = ins.Op0Kind == Iced.Intel.OpKind.Memory || (ins.OpCount > 1 && ins.Op1Kind == Iced.Intel.OpKind.Memory);
        return !mem || (Gpr(ins.MemoryBase) && Gpr(ins.MemoryIndex) && ins.MemorySegment is >= Iced.Intel.Register.ES and <= Iced.Intel.Register.GS);
    }

    private static bool UsesStack(FastForm f) => f is FastForm.PushR or FastForm.PushI or FastForm.PushM or FastForm.PopR
        or FastForm.CallRel or FastForm.CallR or FastForm.CallM or FastForm.Ret or FastForm.RetImm or FastForm.Leave;

    private static bool Conditional(FastForm f) => f is FastForm.Jcc or FastForm.Jz or FastForm.Jnz or FastForm.Jcc16;

    private static bool EndsBlock(FastForm f) => f is FastForm.CallRel or FastForm.CallR or FastForm.CallM or FastForm.Ret
        or FastForm.RetImm or FastForm.JmpRel or FastForm.JmpR or FastForm.JmpM or FastForm.Jcc or FastForm.Jz or FastForm.Jnz
        or FastForm.Jcc16 or FastForm.JmpRel16;

    private void EmitBody(List<(DecodedOp Op, int Rel)> ops, int endRel)
    {
        var il = _il;
        // A compile-only call (a background compilation) returns before anything else.
        var body = il.DefineLabel();
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldc_I4_0);
        il.Emit(OpCodes.Bge, body);
        il.Emit(OpCodes.Ldc_I4_0);
        il.Emit(OpCodes.Ret);
        il.MarkLabel(body);
        // Counts are kept from the stretch's start: the block's first instruction is the run loop's number n.
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Stloc, _base);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldfld, FEip);
        il.Emit(OpCodes.Stloc, _entryEip);
        for (int k = 0; k < 8; k++)
        {
            if ((_used & (1 << k)) == 0) continue;
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, FR);
            il.Emit(OpCodes.Ldc_I4, k);
            il.Emit(OpCodes.Ldelem_U4);
            il.Emit(OpCodes.Stloc, _reg[k]);
        }
        EmitSegmentSetup();
        il.BeginExceptionBlock();
        _blockCount = ops.Count;
        FindInnerBranches(ops);
        FindDeadFlags(ops);
        bool ended = false;
        for (int i = 0; i < ops.Count; i++)
        {
            var (d, rel) = ops[i];
            int nextRel = rel + d.Length;
            il.MarkLabel(_at[i]);
            // Where branches merge, the lazy record may come from any of the paths.
            if (_merge[i]) _flagKind = KindUnknown;
            ended = EmitInstruction(d, i, rel, nextRel);
        }
        if (!ended)
        {
            CountStop();
            SetExit(ops.Count, endRel);
            il.Emit(OpCodes.Leave, _exit);
        }
        EmitSlowAccesses();
        il.BeginCatchBlock(typeof(GuestFault));
        // The run loop restores EIP and ESP from these and delivers the fault, exactly as after an interpreted step.
        il.Emit(OpCodes.Pop);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldloc, _entryEip);
        il.Emit(OpCodes.Ldloc, _curOff);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stfld, FStartEip);
        il.Emit(OpCodes.Ldarg_0);
        if ((_used & (1 << 4)) != 0) il.Emit(OpCodes.Ldloc, _reg[4]);
        else { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldfld, FR); il.Emit(OpCodes.Ldc_I4_4); il.Emit(OpCodes.Ldelem_U4); }
        il.Emit(OpCodes.Stfld, FStartEsp);
        EmitSpill();
        il.Emit(OpCodes.Rethrow);
        il.EndExceptionBlock();
        il.MarkLabel(_exit);
        EmitSpill();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldloc, _exitEip);
        il.Emit(OpCodes.Stfld, FEip);
        // Chaining: the successor the run loop would enter next, if it may be entered now (X86Cpu.NextBlock), runs
        // through a tail call, so a chain of any length keeps one frame and never returns to the run loop.
        var toRunLoop = il.DefineLabel();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldloc, _exitCount);
        il.Emit(OpCodes.Ldarg_2);
        il.Emit(OpCodes.Call, MNextBlock);
        il.Emit(OpCodes.Dup);
        il.Emit(OpCodes.Brfalse, toRunLoop);
        il.Emit(OpCodes.Ldloc, _exitCount);
        il.Emit(OpCodes.Ldarg_2);
        il.Emit(OpCodes.Tailcall);
        il.Emit(OpCodes.Callvirt, MInvoke);
        il.Emit(OpCodes.Ret);
        il.MarkLabel(toRunLoop);
        il.Emit(OpCodes.Pop);
        il.Emit(OpCodes.Ldloc, _exitCount);
        il.Emit(OpCodes.Ret);
    }

    /// <summary>
    /// Finds the relative branches whose target is an instruction of this block (a loop, a skip over a few
    /// instructions): those jump inside the IL instead of returning to the run loop.
    /// </summary>
    private void FindInnerBranches(List<(DecodedOp Op, int Rel)> ops)
    {
        int n = ops.Count;
        _at = new Label[n];
        _inner = new int[n];
        _merge = new bool[n];
        _rel = new int[n];
        for (int i = 0; i < n; i++) { _at[i] = _il.DefineLabel(); _rel[i] = ops[i].Rel; }
        for (int i = 0; i < n; i++)
        {
            var d = ops[i].Op;
            _inner[i] = -1;
            if (d.Form is not (FastForm.Jcc or FastForm.Jz or FastForm.Jnz or FastForm.Jcc16 or FastForm.JmpRel or FastForm.JmpRel16)) continue;
            // 16-bit targets wrap at 64 KiB; the block lies below it (entry checks), so an in-block target is
            // next + the displacement as a signed 16-bit number, never a wrapped one.
            bool b16 = d.Form is FastForm.Jcc16 or FastForm.JmpRel16;
            long target = ops[i].Rel + d.Length + (b16 ? (short)(ushort)d.Imm : (int)d.Imm);
            int j = Array.IndexOf(_rel, (int)target);
            if (target < 0 || target > int.MaxValue || j < 0) continue;
            _inner[i] = j;
            _merge[j] = true;
        }
    }

    /// <summary>
    /// A taken branch from instruction <paramref name="i"/> to instruction <paramref name="j"/> of the block. The
    /// count base moves so that instruction j's count is i + 1's; a backward branch continues only while a whole
    /// straight run of the block still fits the budget (the third argument), else it leaves with EIP at j. Nothing
    /// can intervene between the passes: an MMIO access or a write to code already left the block, and no translated
    /// instruction changes IF, TF or the interrupt shadow. The target lies in the block, so within CS's limit.
    /// </summary>
    private void InnerJump(int i, int j)
    {
        var il = _il;
        int delta = i + 1 - j;
        if (delta != 0)
        {
            il.Emit(OpCodes.Ldloc, _base);
            Const((uint)delta);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Stloc, _base);
        }
        if (j > i) { il.Emit(OpCodes.Br, _at[j]); return; }
        il.Emit(OpCodes.Ldloc, _base);
        Const((uint)_blockCount);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Ldarg_2);
        il.Emit(OpCodes.Ble, _at[j]);
        SetExit(j, _rel[j]);
        il.Emit(OpCodes.Leave, _exit);
    }

    private void EmitSpill()
    {
        for (int k = 0; k < 8; k++)
        {
            if ((_written & (1 << k)) == 0) continue;
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Ldfld, FR);
            _il.Emit(OpCodes.Ldc_I4, k);
            _il.Emit(OpCodes.Ldloc, _reg[k]);
            _il.Emit(OpCodes.Stelem_I4);
        }
    }

    // ---- building blocks ----

    private void Ld(int r) { _used |= 1 << r; _il.Emit(OpCodes.Ldloc, _reg[r]); }
    private void St(int r) { _used |= 1 << r; _written |= 1 << r; _il.Emit(OpCodes.Stloc, _reg[r]); }
    private void Const(uint v) => _il.Emit(OpCodes.Ldc_I4, unchecked((int)v));
    private void Call(MethodInfo m) => _il.Emit(OpCodes.Call, m);
    private void This() => _il.Emit(OpCodes.Ldarg_0);

    /// <summary>Before an instruction that can fault or reach a device: the count and EIP the run loop and devices see.</summary>
    private void MayFault(int i, int rel)
    {
        This();
        Count(i);
        _il.Emit(OpCodes.Stfld, FDone);
        Const((uint)rel);
        _il.Emit(OpCodes.Stloc, _curOff);
    }

    /// <summary>After a memory access: leave if it wrote to code or touched a device (the interpreter would re-check before the next instruction).</summary>
    private void BreakCheck(int count, int nextRel)
    {
        var go = _il.DefineLabel();
        This();
        _il.Emit(OpCodes.Ldfld, FBreak);
        _il.Emit(OpCodes.Brfalse, go);
        SetExit(count, nextRel);
        _il.Emit(OpCodes.Leave, _exit);
        _il.MarkLabel(go);
    }

    /// <summary>Pushes the instructions the stretch completed before the block's instruction <paramref name="i"/> of the current pass.</summary>
    private void Count(int i)
    {
        _il.Emit(OpCodes.Ldloc, _base);
        if (i != 0) { Const((uint)i); _il.Emit(OpCodes.Add); }
    }

    private void SetExit(int count, int rel)
    {
        Count(count);
        _il.Emit(OpCodes.Stloc, _exitCount);
        EipAt(rel);
        _il.Emit(OpCodes.Stloc, _exitEip);
    }

    /// <summary>Pushes the EIP of the byte <paramref name="rel"/> bytes after the block's start (no 16-bit wrap: entry checks it).</summary>
    private void EipAt(int rel)
    {
        _il.Emit(OpCodes.Ldloc, _entryEip);
        if (rel != 0) { Const((uint)rel); _il.Emit(OpCodes.Add); }
    }

    /// <summary>Pushes base + index × scale + displacement, masked for 16-bit addressing.</summary>
    private void Ea(in DecodedOp d)
    {
        bool any = false;
        if (d.Base != 8) { Ld(d.Base); any = true; }
        if (d.Index != 8)
        {
            Ld(d.Index);
            if (d.Scale != 0) { Const(d.Scale); _il.Emit(OpCodes.Shl); }
            if (any) _il.Emit(OpCodes.Add);
            any = true;
        }
        if (!any) Const(d.Disp);
        else if (d.Disp != 0) { Const(d.Disp); _il.Emit(OpCodes.Add); }
        if (d.EaMask != 0xFFFFFFFF) { Const(d.EaMask); _il.Emit(OpCodes.And); }
    }

    /// <summary>cpu, segment, EA: the first arguments of every memory helper.</summary>
    private void MemArgs(in DecodedOp d)
    {
        This();
        Const(d.Seg);
        Ea(d);
    }

    private void Load32(in DecodedOp d) { MemArgs(d); Read32(d.Seg); }
    private void Load8(in DecodedOp d) { MemArgs(d); Read8(d.Seg); }
    private void Load16(in DecodedOp d) { MemArgs(d); Read16(d.Seg); }

    /// <summary>Computes the EA into the scratch local (read-modify-write forms use it twice).</summary>
    private void SaveEa(in DecodedOp d) { Ea(d); _il.Emit(OpCodes.Stloc, _ea); }

    private void Ea32Load(in DecodedOp d) { This(); Const(d.Seg); _il.Emit(OpCodes.Ldloc, _ea); Read32(d.Seg); }

    /// <summary>Byte register by Iced register number (AL..BH).</summary>
    private void Ld8(int reg)
    {
        int n = reg - (int)Iced.Intel.Register.AL;
        Ld(n & 3);
        if (n >= 4) { Const(8); _il.Emit(OpCodes.Shr_Un); }
        Const(0xFF);
        _il.Emit(OpCodes.And);
    }

    /// <summary>Stores the value on the stack into a byte register, keeping the rest of its GPR.</summary>
    private void St8(int reg)
    {
        int n = reg - (int)Iced.Intel.Register.AL;
        int g = n & 3, sh = n >= 4 ? 8 : 0;
        _il.Emit(OpCodes.Stloc, _tmp);
        Ld(g);
        Const(~(0xFFu << sh));
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldloc, _tmp);
        Const(0xFF);
        _il.Emit(OpCodes.And);
        if (sh != 0) { Const((uint)sh); _il.Emit(OpCodes.Shl); }
        _il.Emit(OpCodes.Or);
        St(g);
    }

    /// <summary>Stores the value on the stack into the low word of a GPR.</summary>
    private void St16(int r)
    {
        _il.Emit(OpCodes.Stloc, _tmp);
        Ld(r);
        Const(0xFFFF0000);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldloc, _tmp);
        Const(0xFFFF);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Or);
        St(r);
    }

    private void Pop() => _il.Emit(OpCodes.Pop);

    /// <summary>Lazy 32-bit ALU op on (a, b) already pushed after `this`; leaves the result.</summary>
    private void Lazy32(FastForm f)
    {
        switch (Op32(f))
        {
            case 0: Call(MLazyAdd); break;
            case 5: case 7: Call(MLazySub); break;
            case 1: _il.Emit(OpCodes.Or); Call(MLazyLogic); break;
            case 4: _il.Emit(OpCodes.And); Call(MLazyLogic); break;
            case 6: _il.Emit(OpCodes.Xor); Call(MLazyLogic); break;
        }
    }

    /// <summary>ALU op number (ADD OR ADC SBB AND SUB XOR CMP) of a 32-bit form; TEST counts as AND.</summary>
    private static int Op32(FastForm f) => f switch
    {
        >= FastForm.AddRR and <= FastForm.AddMI => 0,
        >= FastForm.OrRR and <= FastForm.OrMI => 1,
        >= FastForm.AndRR and <= FastForm.AndMI => 4,
        >= FastForm.SubRR and <= FastForm.SubMI => 5,
        >= FastForm.XorRR and <= FastForm.XorMI => 6,
        >= FastForm.CmpRR and <= FastForm.CmpMI => 7,
        _ => 4, // TEST
    };

    /// <summary>Pushes a branch target (checked against CS's limit, #GP(0) beyond it) into the exit EIP and leaves.</summary>
    private void ExitTo(int count)
    {
        // stack: this, target
        Call(MBranchTarget);
        _il.Emit(OpCodes.Stloc, _exitEip);
        Count(count);
        _il.Emit(OpCodes.Stloc, _exitCount);
        _il.Emit(OpCodes.Leave, _exit);
    }

    /// <summary>Relative branch target: next EIP + delta, wrapped to 16 bits for 16-bit branches.</summary>
    private void RelTarget(in DecodedOp d, int nextRel, bool wrap16)
    {
        EipAt(nextRel);
        Const(d.Imm);
        _il.Emit(OpCodes.Add);
        if (wrap16) { Const(0xFFFF); _il.Emit(OpCodes.And); }
    }

    /// <summary>PUSH of the value computed by <paramref name="value"/> on the 32-bit stack: write, then ESP.</summary>
    private void Push32(Action value)
    {
        This();
        Const(2);
        Ld(4);
        Const(4);
        _il.Emit(OpCodes.Sub);
        value();
        Store32(2);
        Ld(4);
        Const(4);
        _il.Emit(OpCodes.Sub);
        St(4);
    }

    /// <summary>Emits one instruction; true when it ended the block (a branch).</summary>
    private bool EmitInstruction(DecodedOp d, int i, int rel, int nextRel)
    {
        var il = _il;
        if (Interpreted(d) != Callout.None && !NativeGeneral(d)) return EmitInterpreted(d, i, rel, nextRel);
        if (_flagsDead[i] && RegisterLazyWriter(d.Form)) { EmitWithoutFlags(d); return false; }
        bool mem = d.Form == FastForm.General
            ? d.Ins.Op0Kind == Iced.Intel.OpKind.Memory || (d.Ins.OpCount > 1 && d.Ins.Op1Kind == Iced.Intel.OpKind.Memory)
            : HasMemory(d.Form);
        // A conditional branch can fault (#GP beyond CS's limit) only when taken out of the block: it sets this there.
        // The HasMemory forms fault or reach a device only in their accesses, whose slow path sets it (Access).
        _accessAt = (i, rel);
        if ((mem && !HasMemory(d.Form)) || (EndsBlock(d.Form) && !Conditional(d.Form) && _inner[i] < 0)) MayFault(i, rel);
        switch (d.Form)
        {
            case FastForm.MovRR: Ld(d.Reg1); St(d.Reg0); break;
            case FastForm.MovRM: Load32(d); St(d.Reg0); break;
            case FastForm.MovMR: MemArgs(d); Ld(d.Reg1); Store32(d.Seg); break;
            case FastForm.MovRI: Const(d.Imm); St(d.Reg0); break;
            case FastForm.MovMI: MemArgs(d); Const(d.Imm); Store32(d.Seg); break;
            case FastForm.MovR8M: Load8(d); St8(d.Reg0); break;
            case FastForm.MovM8R: MemArgs(d); Ld8(d.Reg1); il.Emit(OpCodes.Conv_U1); Store8(d.Seg); break;
            case FastForm.MovM8I: MemArgs(d); Const(d.Imm & 0xFF); Store8(d.Seg); break;
            case FastForm.MovR8R8: Ld8(d.Reg1); St8(d.Reg0); break;
            case FastForm.MovR8I: Const(d.Imm); St8(d.Reg0); break;
            case FastForm.MovM16R: MemArgs(d); Ld(d.Reg1); il.Emit(OpCodes.Conv_U2); Store16(d.Seg); break;
            case FastForm.MovR16M: Load16(d); St16(d.Reg0); break;
            case FastForm.MovM16I: MemArgs(d); Const(d.Imm & 0xFFFF); Store16(d.Seg); break;
            case FastForm.MovzxR8: Ld8(d.Reg1); St(d.Reg0); break;
            case FastForm.MovzxM8: Load8(d); St(d.Reg0); break;
            case FastForm.MovzxR16: Ld(d.Reg1); Const(0xFFFF); il.Emit(OpCodes.And); St(d.Reg0); break;
            case FastForm.MovzxM16: Load16(d); St(d.Reg0); break;
            case FastForm.MovsxR8: Ld8(d.Reg1); il.Emit(OpCodes.Conv_I1); St(d.Reg0); break;
            case FastForm.MovsxM8: Load8(d); il.Emit(OpCodes.Conv_I1); St(d.Reg0); break;
            case FastForm.MovsxR16: Ld(d.Reg1); il.Emit(OpCodes.Conv_I2); St(d.Reg0); break;
            case FastForm.MovsxM16: Load16(d); il.Emit(OpCodes.Conv_I2); St(d.Reg0); break;

            case FastForm.AddRR: case FastForm.OrRR: case FastForm.AndRR: case FastForm.SubRR: case FastForm.XorRR:
                This(); Ld(d.Reg0); Ld(d.Reg1); Lazy32(d.Form); St(d.Reg0); break;
            case FastForm.AddRI: case FastForm.OrRI: case FastForm.AndRI: case FastForm.SubRI: case FastForm.XorRI:
                This(); Ld(d.Reg0); Const(d.Imm); Lazy32(d.Form); St(d.Reg0); break;
            case FastForm.AddRM: case FastForm.OrRM: case FastForm.AndRM: case FastForm.SubRM: case FastForm.XorRM:
                // The memory operand is read before the register (a fault leaves the lazy record untouched).
                Load32(d); il.Emit(OpCodes.Stloc, _tmp);
                This(); Ld(d.Reg0); il.Emit(OpCodes.Ldloc, _tmp); Lazy32(d.Form); St(d.Reg0); break;
            case FastForm.AddMR: case FastForm.OrMR: case FastForm.AndMR: case FastForm.SubMR: case FastForm.XorMR:
            case FastForm.AddMI: case FastForm.OrMI: case FastForm.AndMI: case FastForm.SubMI: case FastForm.XorMI:
            {
                bool imm = d.Form is FastForm.AddMI or FastForm.OrMI or FastForm.AndMI or FastForm.SubMI or FastForm.XorMI;
                SaveEa(d);
                This(); Const(d.Seg); il.Emit(OpCodes.Ldloc, _ea); // WriteM32 arguments
                This(); Ea32Load(d);
                if (imm) Const(d.Imm); else Ld(d.Reg1);
                Lazy32(d.Form);
                Store32(d.Seg);
                break;
            }
            case FastForm.CmpRR: case FastForm.TestRR: This(); Ld(d.Reg0); Ld(d.Reg1); Lazy32(d.Form); Pop(); break;
            case FastForm.CmpRI: case FastForm.TestRI: This(); Ld(d.Reg0); Const(d.Imm); Lazy32(d.Form); Pop(); break;
            case FastForm.CmpRM:
                Load32(d); il.Emit(OpCodes.Stloc, _tmp);
                This(); Ld(d.Reg0); il.Emit(OpCodes.Ldloc, _tmp); Lazy32(d.Form); Pop(); break;
            case FastForm.CmpMR: case FastForm.TestMR:
                This(); Load32(d); Ld(d.Reg1); Lazy32(d.Form); Pop(); break;
            case FastForm.CmpMI: case FastForm.TestMI:
                This(); Load32(d); Const(d.Imm); Lazy32(d.Form); Pop(); break;

            case FastForm.Cmp8RR: case FastForm.Cmp8MR: case FastForm.Cmp8RM: case FastForm.Cmp8RI: case FastForm.Cmp8MI:
            case FastForm.Test8RR: case FastForm.Test8RI: case FastForm.Test8MI:
                EmitByteCompare(d); break;

            case FastForm.IncR: This(); Ld(d.Reg0); Call(MLazyInc); St(d.Reg0); break;
            case FastForm.DecR: This(); Ld(d.Reg0); Call(MLazyDec); St(d.Reg0); break;
            case FastForm.IncM: case FastForm.DecM:
                SaveEa(d);
                This(); Const(d.Seg); il.Emit(OpCodes.Ldloc, _ea);
                This(); Ea32Load(d); Call(d.Form == FastForm.IncM ? MLazyInc : MLazyDec);
                Store32(d.Seg);
                break;

            case FastForm.ShiftRI: case FastForm.ShiftRCl: EmitShift(d, _flagsDead[i]); break;
            case FastForm.Lea: Ea(d); St(d.Reg0); break;

            case FastForm.PushR: { int r = d.Reg0; Push32(() => Ld(r)); break; }
            case FastForm.PushI: { uint v = d.Imm; Push32(() => Const(v)); break; }
            case FastForm.PushM: Load32(d); il.Emit(OpCodes.Stloc, _tmp); Push32(() => il.Emit(OpCodes.Ldloc, _tmp)); break;
            case FastForm.PopR:
                This(); Const(2); Ld(4); Read32(2); il.Emit(OpCodes.Stloc, _tmp);
                Ld(4); Const(4); il.Emit(OpCodes.Add); St(4);
                il.Emit(OpCodes.Ldloc, _tmp); St(d.Reg0);
                break;
            case FastForm.Leave:
                This(); Const(2); Ld(5); Read32(2); il.Emit(OpCodes.Stloc, _tmp);
                Ld(5); Const(4); il.Emit(OpCodes.Add); St(4);
                il.Emit(OpCodes.Ldloc, _tmp); St(5);
                break;

            case FastForm.SetccR8: Condition(d.Aux); St8(d.Reg0); break;
            case FastForm.SetccM8: MemArgs(d); Condition(d.Aux); Store8(d.Seg); break;
            case FastForm.CmovRR:
            {
                var skip = il.DefineLabel();
                Condition(d.Aux); il.Emit(OpCodes.Brfalse, skip);
                Ld(d.Reg1); St(d.Reg0);
                il.MarkLabel(skip);
                break;
            }
            case FastForm.CmovRM:
            {
                var skip = il.DefineLabel();
                Load32(d); il.Emit(OpCodes.Stloc, _tmp); // memory is read even when the condition is false
                Condition(d.Aux); il.Emit(OpCodes.Brfalse, skip);
                il.Emit(OpCodes.Ldloc, _tmp); St(d.Reg0);
                il.MarkLabel(skip);
                break;
            }
            case FastForm.ImulRR: case FastForm.ImulRM: case FastForm.ImulRRI: case FastForm.ImulRMI: EmitImul(d, _flagsDead[i]); break;
            case FastForm.Cdq: Ld(0); Const(31); il.Emit(OpCodes.Shr); St(2); break;
            case FastForm.Nop: break;
            case FastForm.Xchg: Ld(d.Reg0); il.Emit(OpCodes.Stloc, _tmp); Ld(d.Reg1); St(d.Reg0); il.Emit(OpCodes.Ldloc, _tmp); St(d.Reg1); break;

            case FastForm.MovR16R16: Ld(d.Reg1); St16(d.Reg0); break;
            case FastForm.MovR16I: Const(d.Imm); St16(d.Reg0); break;
            case FastForm.Alu16RR: This(); Const(d.Aux); Ld(d.Reg0); Ld(d.Reg1); Const(2); Call(MAlu); Store16Unless7(d); break;
            case FastForm.Alu16RI: This(); Const(d.Aux); Ld(d.Reg0); Const(d.Imm); Const(2); Call(MAlu); Store16Unless7(d); break;
            case FastForm.Alu16RM:
                Load16(d); il.Emit(OpCodes.Stloc, _tmp);
                This(); Const(d.Aux); Ld(d.Reg0); il.Emit(OpCodes.Ldloc, _tmp); Const(2); Call(MAlu); Store16Unless7(d); break;
            case FastForm.Alu16MR: case FastForm.Alu16MI:
                SaveEa(d);
                This(); Const(d.Aux);
                This(); Const(d.Seg); il.Emit(OpCodes.Ldloc, _ea); Read16(d.Seg);
                if (d.Form == FastForm.Alu16MR) Ld(d.Reg1); else Const(d.Imm);
                Const(2); Call(MAlu);
                if (d.Aux != 7)
                {
                    il.Emit(OpCodes.Stloc, _tmp);
                    This(); Const(d.Seg); il.Emit(OpCodes.Ldloc, _ea); il.Emit(OpCodes.Ldloc, _tmp); il.Emit(OpCodes.Conv_U2); Store16(d.Seg);
                }
                else Pop();
                break;
            case FastForm.Test16RR: This(); Ld(d.Reg0); Ld(d.Reg1); il.Emit(OpCodes.And); Const(2); Call(MLogic); Pop(); break;
            case FastForm.Test16RI: This(); Ld(d.Reg0); Const(d.Imm); il.Emit(OpCodes.And); Const(2); Call(MLogic); Pop(); break;
            case FastForm.IncR16: This(); Ld(d.Reg0); Const(2); Call(MInc); St16(d.Reg0); break;
            case FastForm.DecR16: This(); Ld(d.Reg0); Const(2); Call(MDec); St16(d.Reg0); break;
            case FastForm.LeaR16: Ea(d); St16(d.Reg0); break;

            // ---- block ends ----
            case FastForm.JmpRel:
            case FastForm.JmpRel16:
                if (_inner[i] >= 0) { InnerJump(i, _inner[i]); return true; }
                This(); RelTarget(d, nextRel, d.Form == FastForm.JmpRel16); ExitTo(i + 1); return true;
            case FastForm.JmpR: This(); Ld(d.Reg0); ExitTo(i + 1); return true;
            case FastForm.JmpM: Load32(d); il.Emit(OpCodes.Stloc, _tmp); This(); il.Emit(OpCodes.Ldloc, _tmp); ExitTo(i + 1); return true;
            case FastForm.Jcc: case FastForm.Jz: case FastForm.Jnz: case FastForm.Jcc16:
            {
                // Not taken: on to the next instruction of the block (or out at its end); taken: inside or out.
                var notTaken = il.DefineLabel();
                if (d.Form == FastForm.Jz || d.Form == FastForm.Jnz)
                {
                    if (_flagKind > KindEager) { This(); il.Emit(OpCodes.Ldfld, FLazyRes); }
                    else { This(); Call(MZeroNow); }
                    bool zeroTaken = d.Form == FastForm.Jz;
                    if (_flagKind > KindEager) zeroTaken = !zeroTaken; // the value is the result, not ZF
                    il.Emit(zeroTaken ? OpCodes.Brfalse : OpCodes.Brtrue, notTaken);
                }
                else
                {
                    Condition(d.Aux);
                    il.Emit(OpCodes.Brfalse, notTaken);
                }
                if (_inner[i] >= 0) InnerJump(i, _inner[i]);
                else { MayFault(i, rel); This(); RelTarget(d, nextRel, d.Form == FastForm.Jcc16); ExitTo(i + 1); }
                il.MarkLabel(notTaken);
                break;
            }
            case FastForm.CallRel:
            case FastForm.CallR:
            case FastForm.CallM:
                // Target first (its read and limit check can fault before anything is pushed), then the push.
                if (d.Form == FastForm.CallRel) { This(); RelTarget(d, nextRel, false); }
                else if (d.Form == FastForm.CallR) { This(); Ld(d.Reg0); }
                else { This(); Load32(d); }
                Call(MBranchTarget);
                il.Emit(OpCodes.Stloc, _exitEip);
                Push32(() => EipAt(nextRel));
                Count(i + 1);
                il.Emit(OpCodes.Stloc, _exitCount);
                il.Emit(OpCodes.Leave, _exit);
                return true;
            case FastForm.Ret:
            case FastForm.RetImm:
                This();
                This(); Const(2); Ld(4); Read32(2);
                Call(MBranchTarget);
                il.Emit(OpCodes.Stloc, _exitEip);
                Ld(4); Const(4 + d.Imm); il.Emit(OpCodes.Add); St(4);
                Count(i + 1);
                il.Emit(OpCodes.Stloc, _exitCount);
                il.Emit(OpCodes.Leave, _exit);
                return true;
            case FastForm.General:
                EmitGeneral(d, _flagsDead[i]);
                break;
            default:
                throw new InvalidOperationException($"no translation for {d.Form}");
        }
        _flagKind = _kindAfter ?? FlagKindAfter(d, _flagKind);
        _kindAfter = null;
        if (mem) BreakCheck(i + 1, nextRel);
        return false;
    }

    /// <summary>The lazy record kind after <paramref name="d"/>: set by the 32-bit ALU forms, unknown after eager ones.</summary>
    private static int FlagKindAfter(in DecodedOp d, int before) => d.Form switch
    {
        >= FastForm.AddRR and <= FastForm.AddMI => KindAdd,
        >= FastForm.SubRR and <= FastForm.SubMI => KindSub,
        >= FastForm.CmpRR and <= FastForm.CmpMI => KindSub,
        >= FastForm.OrRR and <= FastForm.OrMI => KindLogic,
        >= FastForm.AndRR and <= FastForm.AndMI => KindLogic,
        >= FastForm.XorRR and <= FastForm.XorMI => KindLogic,
        FastForm.TestRR or FastForm.TestMR or FastForm.TestRI or FastForm.TestMI => KindLogic,
        FastForm.IncR or FastForm.IncM => KindInc,
        FastForm.DecR or FastForm.DecM => KindDec,
        >= FastForm.Cmp8RR and <= FastForm.Test8MI => KindUnknown,
        FastForm.ShiftRI or FastForm.ShiftRCl or FastForm.ImulRR or FastForm.ImulRM or FastForm.ImulRRI or FastForm.ImulRMI => KindUnknown,
        >= FastForm.Alu16RR and <= FastForm.DecR16 => KindUnknown,
        FastForm.General => KindUnknown,
        _ => before,
    };

    /// <summary>
    /// Pushes condition <paramref name="cc"/> (Iced's numbering) as 0/1. With the block's last flag setter known,
    /// it is read from that record's operands exactly as <c>TestCondition</c> would; else <c>TestCondition</c> runs.
    /// (A materialisation between leaves the record's fields as they were, so reading them stays correct.)
    /// </summary>
    private void Condition(int cc)
    {
        var c = (Iced.Intel.ConditionCode)cc;
        var il = _il;
        void A() { This(); il.Emit(OpCodes.Ldfld, FLazyA); }
        void B() { This(); il.Emit(OpCodes.Ldfld, FLazyB); }
        void Res() { This(); il.Emit(OpCodes.Ldfld, FLazyRes); }
        void Not() { Const(0); il.Emit(OpCodes.Ceq); }
        if (KnownCondition(c)) return;
        switch (_flagKind)
        {
            case KindSub:
                switch (c)
                {
                    case Iced.Intel.ConditionCode.e: A(); B(); il.Emit(OpCodes.Ceq); return;
                    case Iced.Intel.ConditionCode.ne: A(); B(); il.Emit(OpCodes.Ceq); Not(); return;
                    case Iced.Intel.ConditionCode.b: A(); B(); il.Emit(OpCodes.Clt_Un); return;
                    case Iced.Intel.ConditionCode.ae: A(); B(); il.Emit(OpCodes.Clt_Un); Not(); return;
                    case Iced.Intel.ConditionCode.be: A(); B(); il.Emit(OpCodes.Cgt_Un); Not(); return;
                    case Iced.Intel.ConditionCode.a: A(); B(); il.Emit(OpCodes.Cgt_Un); return;
                    case Iced.Intel.ConditionCode.s: Res(); Const(0); il.Emit(OpCodes.Clt); return;
                    case Iced.Intel.ConditionCode.ns: Res(); Const(0); il.Emit(OpCodes.Clt); Not(); return;
                    case Iced.Intel.ConditionCode.l: A(); B(); il.Emit(OpCodes.Clt); return;
                    case Iced.Intel.ConditionCode.ge: A(); B(); il.Emit(OpCodes.Clt); Not(); return;
                    case Iced.Intel.ConditionCode.le: A(); B(); il.Emit(OpCodes.Cgt); Not(); return;
                    case Iced.Intel.ConditionCode.g: A(); B(); il.Emit(OpCodes.Cgt); return;
                }
                break;
            case KindLogic:
                switch (c)
                {
                    case Iced.Intel.ConditionCode.e: case Iced.Intel.ConditionCode.be: Res(); Const(0); il.Emit(OpCodes.Ceq); return;
                    case Iced.Intel.ConditionCode.ne: case Iced.Intel.ConditionCode.a: Res(); Const(0); il.Emit(OpCodes.Ceq); Not(); return;
                    case Iced.Intel.ConditionCode.s: case Iced.Intel.ConditionCode.l: Res(); Const(0); il.Emit(OpCodes.Clt); return;
                    case Iced.Intel.ConditionCode.ns: case Iced.Intel.ConditionCode.ge: Res(); Const(0); il.Emit(OpCodes.Clt); Not(); return;
                    case Iced.Intel.ConditionCode.le: Res(); Const(0); il.Emit(OpCodes.Cgt); Not(); return;
                    case Iced.Intel.ConditionCode.g: Res(); Const(0); il.Emit(OpCodes.Cgt); return;
                    case Iced.Intel.ConditionCode.o: case Iced.Intel.ConditionCode.b: Const(0); return;
                    case Iced.Intel.ConditionCode.no: case Iced.Intel.ConditionCode.ae: Const(1); return;
                }
                break;
            case KindAdd:
            case KindInc:
            case KindDec:
                switch (c)
                {
                    case Iced.Intel.ConditionCode.e: Res(); Const(0); il.Emit(OpCodes.Ceq); return;
                    case Iced.Intel.ConditionCode.ne: Res(); Const(0); il.Emit(OpCodes.Ceq); Not(); return;
                    case Iced.Intel.ConditionCode.s: Res(); Const(0); il.Emit(OpCodes.Clt); return;
                    case Iced.Intel.ConditionCode.ns: Res(); Const(0); il.Emit(OpCodes.Clt); Not(); return;
                }
                break;
        }
        This(); Const((uint)cc); Call(MTestCondition);
    }

    private void Store16Unless7(in DecodedOp d)
    {
        if (d.Aux != 7) St16(d.Reg0);
        else Pop();
    }

    private static bool HasMemory(FastForm f) => f switch
    {
        FastForm.MovRM or FastForm.MovMR or FastForm.MovMI or FastForm.MovR8M or FastForm.MovM8R or FastForm.MovM8I
            or FastForm.MovM16R or FastForm.MovR16M or FastForm.MovM16I or FastForm.MovzxM8 or FastForm.MovzxM16
            or FastForm.MovsxM8 or FastForm.MovsxM16 => true,
        FastForm.AddRM or FastForm.AddMR or FastForm.AddMI or FastForm.OrRM or FastForm.OrMR or FastForm.OrMI
            or FastForm.AndRM or FastForm.AndMR or FastForm.AndMI or FastForm.SubRM or FastForm.SubMR or FastForm.SubMI
            or FastForm.XorRM or FastForm.XorMR or FastForm.XorMI or FastForm.CmpRM or FastForm.CmpMR or FastForm.CmpMI
            or FastForm.TestMR or FastForm.TestMI => true,
        FastForm.Cmp8MR or FastForm.Cmp8RM or FastForm.Cmp8MI or FastForm.Test8MI or FastForm.IncM or FastForm.DecM => true,
        FastForm.PushR or FastForm.PushI or FastForm.PushM or FastForm.PopR or FastForm.Leave => true,
        FastForm.SetccM8 or FastForm.CmovRM or FastForm.ImulRM or FastForm.ImulRMI => true,
        FastForm.Alu16RM or FastForm.Alu16MR or FastForm.Alu16MI => true,
        _ => false,
    };
}
