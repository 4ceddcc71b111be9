using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;

namespace MiniVM.Cpu;

// Instructions a block runs through the interpreter's own handler instead of ending before them: string operations
// (with and without REP), DIV/IDIV, NEG/NOT, SHLD/SHRD, BT*, XCHG/XADD/CMPXCHG with memory, 8/16-bit ALU, shifts
// and rotates on memory, PUSH/POP/CALL/RET on a 16-bit stack, far transfers, LOOP/JCXZ. The block writes its
// register locals back to R[], calls X86Cpu.BlockInterpret for the instruction (the same ExecuteFast/ExecuteGeneral
// the run loop would call, with EIP already past it), and reloads them: so every flag, fault, partial REP progress
// and memory access order is the interpreter's by construction. What such an instruction may not do is change
// what the block assumes for its remaining instructions (code size, CS, stack size, IF/TF/shadow, the fetch page)
// or talk to ports (a device may raise INTR, which the run loop must see before the next instruction): those that
// can are either the block's last instruction (Callout.Ends, Callout.EndsAtRunLoop) or left out of blocks.
internal sealed partial class BlockTranslator
{
    /// <summary>
    /// How a block may hand an instruction to the interpreter's handler: not at all, in the middle of the block, as its
    /// last instruction (the block may chain to the next), or as its last instruction with a return to the run loop:
    /// the instruction may change IF, TF, RF, the interrupt shadow or the CPL (and with it alignment checking), which
    /// the run loop looks at before the next instruction and X86Cpu.NextBlock assumes unchanged.
    /// </summary>
    private enum Callout { None, Straight, Ends, EndsAtRunLoop }

    private static bool EndsBlock(Callout c) => c is Callout.Ends or Callout.EndsAtRunLoop;

    private static readonly MethodInfo MInterpret = Method(nameof(X86Cpu.BlockInterpret));
    private static readonly FieldInfo FStops = Field(nameof(X86Cpu._jitStops));

    /// <summary>Offset of the block's first instruction in its page (callouts find their decoded instruction there).</summary>
    private int _pageOffset;
    /// <summary>The untranslated instruction the block stops before (Mnemonic.INVALID: none, or the page end).</summary>
    private Mnemonic _stop;

    /// <summary>Whether (and how) a block may hand <paramref name="d"/> to the interpreter's handler.</summary>
    private static Callout Interpreted(in DecodedOp d)
    {
        switch (d.Form)
        {
            case FastForm.PushR16: case FastForm.PopR16: return Callout.Straight;
            case FastForm.CallRel16: case FastForm.Ret16: return Callout.Ends;
            case FastForm.General: break;
            default: return Callout.None;
        }
        ref readonly Instruction ins = ref d.Ins;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: case Mnemonic.Or: case Mnemonic.Adc: case Mnemonic.Sbb: case Mnemonic.And:
            case Mnemonic.Sub: case Mnemonic.Xor: case Mnemonic.Cmp: case Mnemonic.Test:
            case Mnemonic.Inc: case Mnemonic.Dec: case Mnemonic.Neg: case Mnemonic.Not:
            case Mnemonic.Rol: case Mnemonic.Ror: case Mnemonic.Rcl: case Mnemonic.Rcr:
            case Mnemonic.Shl: case Mnemonic.Sal: case Mnemonic.Shr: case Mnemonic.Sar: case Mnemonic.Shld: case Mnemonic.Shrd:
            case Mnemonic.Mul: case Mnemonic.Imul: case Mnemonic.Div: case Mnemonic.Idiv:
            case Mnemonic.Pusha: case Mnemonic.Pushad: case Mnemonic.Popa: case Mnemonic.Popad:
            case Mnemonic.Pushf: case Mnemonic.Pushfd:
            case Mnemonic.Lahf: case Mnemonic.Sahf: case Mnemonic.Cbw: case Mnemonic.Cwde: case Mnemonic.Cwd: case Mnemonic.Cdq:
            case Mnemonic.Xlatb: case Mnemonic.Lea: case Mnemonic.Xchg: case Mnemonic.Movzx: case Mnemonic.Movsx: case Mnemonic.Bswap:
            case Mnemonic.Xadd: case Mnemonic.Cmpxchg: case Mnemonic.Cmpxchg8b:
            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc:
            case Mnemonic.Bsf: case Mnemonic.Bsr: case Mnemonic.Tzcnt: case Mnemonic.Lzcnt:
            case Mnemonic.Daa: case Mnemonic.Das: case Mnemonic.Aaa: case Mnemonic.Aas: case Mnemonic.Aam: case Mnemonic.Aad:
            case Mnemonic.Salc: case Mnemonic.Clc: case Mnemonic.Stc: case Mnemonic.Cmc: case Mnemonic.Cld: case Mnemonic.Std:
            case Mnemonic.Nop: case Mnemonic.Pause:
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae:
            case Mnemonic.Cmove: case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova:
            case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae:
            case Mnemonic.Sete: case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta:
            case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
            case Mnemonic.Enter: case Mnemonic.Leave: case Mnemonic.Bound:
            case Mnemonic.Cpuid: case Mnemonic.Rdtsc:
            // String operations without ports; a REP chunk that stops early leaves EIP on the instruction.
            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsd:
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsd:
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd:
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd:
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd:
                return Callout.Straight;
            case Mnemonic.Push:
                return Callout.Straight;
            case Mnemonic.Pop:
                // POP SS sets the interrupt shadow and may change the stack size: left to the run loop.
                if (ins.Op0Kind == OpKind.Register && ins.Op0Register == Register.SS) return Callout.None;
                return ins.Op0Kind == OpKind.Register && IsSegment(ins.Op0Register) ? Callout.Ends : Callout.Straight;
            case Mnemonic.Mov:
                switch (ins.Code)
                {
                    case Code.Mov_Sreg_rm16: case Code.Mov_Sreg_r32m16:
                        return ins.Op0Register is Register.ES or Register.DS or Register.FS or Register.GS ? Callout.Ends : Callout.None;
                    // Reading CR0/CR2/CR3/CR4 or a debug register changes nothing (Linux's page-fault entry reads CR2);
                    // writing one may change paging, the TLB or breakpoints under the block's feet.
                    case Code.Mov_r32_cr: case Code.Mov_r32_dr: return Callout.Straight;
                    case Code.Mov_cr_r32: case Code.Mov_dr_r32: case Code.Mov_r32_tr: case Code.Mov_tr_r32:
                        return Callout.None;
                    default: return Callout.Straight;
                }
            // A data segment load ends the block (it reads descriptors, may set their accessed bit).
            case Mnemonic.Les: case Mnemonic.Lds: case Mnemonic.Lfs: case Mnemonic.Lgs:
            // Near transfers: the interpreter leaves EIP (and perhaps the stack) where the block exits to.
            case Mnemonic.Ret:
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne: case Mnemonic.Jcxz: case Mnemonic.Jecxz:
                return Callout.Ends;
            case Mnemonic.Jmp: case Mnemonic.Call:
                return ins.IsJmpFar || ins.IsJmpFarIndirect || ins.IsCallFar || ins.IsCallFarIndirect ? Callout.EndsAtRunLoop : Callout.Ends;
            // Far transfers (CS, the CPL, perhaps a task switch) and IF/TF/RF/the shadow changes.
            case Mnemonic.Retf: case Mnemonic.Iret: case Mnemonic.Iretd: case Mnemonic.Int: case Mnemonic.Int3: case Mnemonic.Into:
            case Mnemonic.Popf: case Mnemonic.Popfd: case Mnemonic.Cli: case Mnemonic.Sti:
                return Callout.EndsAtRunLoop;
            default:
                return Callout.None;
        }
    }

    private static bool IsSegment(Register r) => r is >= Register.ES and <= Register.GS;

    /// <summary>
    /// Runs instruction <paramref name="i"/> through the interpreter's handler. Its registers are written back before
    /// and reloaded after; a fault reloads them too (all but ESP: the run loop restores the instruction's own ESP,
    /// which the local, or R[4] put back, holds), so the fault sees what the interpreter left, e.g. a REP's completed
    /// iterations.
    /// </summary>
    private bool EmitInterpreted(in DecodedOp d, int i, int rel, int nextRel)
    {
        var il = _il;
        var kind = Interpreted(d);
        MayFault(i, rel);
        WriteBackUsed();
        il.BeginExceptionBlock();
        This();
        Const((uint)(_pageOffset + rel));
        EipAt(rel);
        NextEip(nextRel);
        Call(MInterpret);
        il.BeginCatchBlock(typeof(GuestFault));
        Pop();
        ReloadUsed(keepEsp: true);
        // The handler may have moved ESP before faulting (LEAVE, a 16-bit POP); where the block keeps no ESP local
        // the fault path reads R[4] as the instruction's ESP, so put back the one BlockInterpret saved.
        This(); il.Emit(OpCodes.Ldfld, FR); Const(4); This(); il.Emit(OpCodes.Ldfld, FStartEsp); il.Emit(OpCodes.Stelem_I4);
        il.Emit(OpCodes.Rethrow);
        il.EndExceptionBlock();
        ReloadUsed(keepEsp: false);
        _flagKind = KindUnknown;
        if (EndsBlock(kind))
        {
            // No chaining past an instruction that may change what the run loop checks before each instruction.
            if (kind == Callout.EndsAtRunLoop) { This(); Const(1); il.Emit(OpCodes.Stfld, FBreak); }
            This(); il.Emit(OpCodes.Ldfld, FEip); il.Emit(OpCodes.Stloc, _exitEip);
            Count(i + 1); il.Emit(OpCodes.Stloc, _exitCount);
            il.Emit(OpCodes.Leave, _exit);
            return true;
        }
        // A REP chunk that did not finish left EIP on its own instruction: the block leaves there, counting it.
        var on = il.DefineLabel();
        This(); il.Emit(OpCodes.Ldfld, FEip); NextEip(nextRel); il.Emit(OpCodes.Beq, on);
        This(); il.Emit(OpCodes.Ldfld, FEip); il.Emit(OpCodes.Stloc, _exitEip);
        Count(i + 1); il.Emit(OpCodes.Stloc, _exitCount);
        il.Emit(OpCodes.Leave, _exit);
        il.MarkLabel(on);
        BreakCheck(i + 1, nextRel);
        return false;
    }

    /// <summary>The EIP after the instruction ending at <paramref name="nextRel"/>, wrapped as the interpreter wraps it.</summary>
    private void NextEip(int nextRel)
    {
        EipAt(nextRel);
        if (_code16) { Const(0xFFFF); _il.Emit(OpCodes.And); }
    }

    private void WriteBackUsed()
    {
        for (int k = 0; k < 8; k++)
        {
            if ((_used & (1 << k)) == 0) continue;
            This(); _il.Emit(OpCodes.Ldfld, FR); Const((uint)k); _il.Emit(OpCodes.Ldloc, _reg[k]); _il.Emit(OpCodes.Stelem_I4);
        }
    }

    private void ReloadUsed(bool keepEsp)
    {
        for (int k = 0; k < 8; k++)
        {
            if ((_used & (1 << k)) == 0 || (keepEsp && k == 4)) continue;
            This(); _il.Emit(OpCodes.Ldfld, FR); Const((uint)k); _il.Emit(OpCodes.Ldelem_U4); _il.Emit(OpCodes.Stloc, _reg[k]);
        }
    }

    /// <summary>At the block's fall-through end before an untranslated instruction: count that instruction's mnemonic.</summary>
    private void CountStop()
    {
        if (_stop == Mnemonic.INVALID) return;
        This();
        _il.Emit(OpCodes.Ldfld, FStops);
        Const((uint)_stop);
        _il.Emit(OpCodes.Ldelema, typeof(long));
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Ldind_I8);
        _il.Emit(OpCodes.Ldc_I8, 1L);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stind_I8);
    }
}
