using System.Reflection;
using System.Reflection.Emit;

namespace MiniVM.Cpu;

// Shifts, rotates, MUL/IMUL and ADC/SBB computed in the block's own IL instead of through the interpreter's eager
// helpers (Shift, Imul32, Mul32, Alu). The result is plain IL arithmetic; the flags are either dead (liveness,
// BlockTranslator.Flags.cs: the next instruction that sets all six overwrites them before anything can read them)
// or computed in IL exactly as the helper computes them and stored eagerly (_flags, lazy record dropped), so a
// later condition of the block reads them straight from _flags. The helpers (X86Cpu.Alu.cs, X86Cpu.FastPath.cs)
// stay the reference: every formula here is theirs, bit for bit, including the flags the SDM leaves undefined.
internal sealed partial class BlockTranslator
{
    private static readonly FieldInfo FFlags = Field("_flags");
    private static readonly FieldInfo FLazyKind = Field("_lazyKind");
    private static readonly FieldInfo FLazyCf = Field("_lazyCf");
    private static readonly FieldInfo FParity = Field(nameof(X86Cpu.Parity));
    private static readonly MethodInfo MCarryNow = Method("CarryNow");
    private static readonly MethodInfo MFlagsGet = typeof(X86Cpu).GetProperty("Flags_", Any)!.GetMethod!;

    /// <summary>The block knows the arithmetic flags are materialised in <c>_flags</c> (no lazy record pending).</summary>
    private const int KindEager = 0;

    /// <summary>The flag kind the instruction just emitted left, when its emitter knows it better than <see cref="FlagKindAfter"/>.</summary>
    private int? _kindAfter;

    private LocalBuilder? _la, _lb, _lr, _lc;
    private LocalBuilder? _lp;
    private LocalBuilder LA => _la ??= _il.DeclareLocal(typeof(uint));
    private LocalBuilder LB => _lb ??= _il.DeclareLocal(typeof(uint));
    private LocalBuilder LR => _lr ??= _il.DeclareLocal(typeof(uint));
    private LocalBuilder LC => _lc ??= _il.DeclareLocal(typeof(uint));
    private LocalBuilder LP => _lp ??= _il.DeclareLocal(typeof(long));

    private void StLoc(LocalBuilder l) => _il.Emit(OpCodes.Stloc, l);
    private void LdLoc(LocalBuilder l) => _il.Emit(OpCodes.Ldloc, l);
    private void Op(OpCode o) => _il.Emit(o);

    /// <summary>Pushes Szp(r, 4): PF from the low byte, ZF, SF of the 32-bit value in <paramref name="r"/>.</summary>
    private void Szp32(LocalBuilder r)
    {
        _il.Emit(OpCodes.Ldsfld, FParity);
        LdLoc(r); Const(0xFF); Op(OpCodes.And);
        Op(OpCodes.Ldelem_U1);
        LdLoc(r); Const(24); Op(OpCodes.Shr_Un); Const(X86Cpu.SF); Op(OpCodes.And); Op(OpCodes.Or);
        LdLoc(r); Const(0); Op(OpCodes.Ceq); Const(6); Op(OpCodes.Shl); Op(OpCodes.Or); // ZF = 0x40
    }

    /// <summary>_flags = (_flags &amp; ~ArithFlags) | the six bits <paramref name="bits"/> pushes; the lazy record is dropped (SetArith).</summary>
    private void StoreArith(Action bits)
    {
        This();
        This(); _il.Emit(OpCodes.Ldfld, FFlags); Const(~X86Cpu.ArithFlags); Op(OpCodes.And);
        bits();
        Op(OpCodes.Or);
        _il.Emit(OpCodes.Stfld, FFlags);
        This(); Const(0); _il.Emit(OpCodes.Stfld, FLazyKind);
    }

    /// <summary>
    /// SHL/SHR/SAR/ROL/ROR r32 by an immediate or CL (Shift(op, a, count, 4)). A count of 0 (after masking to 5
    /// bits) changes neither the register nor the flags.
    /// </summary>
    private void EmitShift(in DecodedOp d, bool flagsDead)
    {
        int op = d.Aux;
        bool byCl = d.Form == FastForm.ShiftRCl;
        if (!byCl && (d.Imm & 0x1F) == 0) { _kindAfter = _flagKind; return; }
        uint c = d.Imm & 0x1F;
        // The count: a constant, or CL & 31 in LC.
        if (byCl) { Ld(1); Const(0x1F); Op(OpCodes.And); StLoc(LC); }
        void Count() { if (byCl) LdLoc(LC); else Const(c); }
        void CountMinus1() { if (byCl) { LdLoc(LC); Const(1); Op(OpCodes.Sub); } else Const(c - 1); }
        void InverseCount() { Const(32); if (byCl) LdLoc(LC); else Const(c); Op(OpCodes.Sub); }
        // A rotate by CL may count 0 when its flags are dead (no branch around it): (32 - 0) & 31 keeps the shift defined.
        void RotateInverse() { InverseCount(); if (byCl) { Const(0x1F); Op(OpCodes.And); } }

        var skip = _il.DefineLabel();
        if (byCl && !flagsDead) { LdLoc(LC); _il.Emit(OpCodes.Brfalse, skip); }
        Ld(d.Reg0); StLoc(LA);
        // The result (a count of 0, possible by CL, gives a again).
        switch (op)
        {
            case 0: LdLoc(LA); Count(); Op(OpCodes.Shl); LdLoc(LA); RotateInverse(); Op(OpCodes.Shr_Un); Op(OpCodes.Or); break;
            case 1: LdLoc(LA); Count(); Op(OpCodes.Shr_Un); LdLoc(LA); RotateInverse(); Op(OpCodes.Shl); Op(OpCodes.Or); break;
            case 4: case 6: LdLoc(LA); Count(); Op(OpCodes.Shl); break;
            case 5: LdLoc(LA); Count(); Op(OpCodes.Shr_Un); break;
            default: LdLoc(LA); Count(); Op(OpCodes.Shr); break;
        }
        StLoc(LR);
        if (!flagsDead)
        {
            switch (op)
            {
                case 0: // ROL: CF = bit 0 of the result, OF = its top bit ^ CF; the other four flags stay.
                    This();
                    This(); Call(MFlagsGet); Const(~(X86Cpu.CF | X86Cpu.OF)); Op(OpCodes.And);
                    LdLoc(LR); Const(1); Op(OpCodes.And); Op(OpCodes.Or);
                    LdLoc(LR); Const(31); Op(OpCodes.Shr_Un); LdLoc(LR); Op(OpCodes.Xor); Const(1); Op(OpCodes.And); Const(11); Op(OpCodes.Shl); Op(OpCodes.Or);
                    _il.Emit(OpCodes.Stfld, FFlags);
                    This(); Const(0); _il.Emit(OpCodes.Stfld, FLazyKind);
                    break;
                case 1: // ROR: CF = the top bit of the result, OF = its top two bits differ.
                    This();
                    This(); Call(MFlagsGet); Const(~(X86Cpu.CF | X86Cpu.OF)); Op(OpCodes.And);
                    LdLoc(LR); Const(31); Op(OpCodes.Shr_Un); Op(OpCodes.Or);
                    LdLoc(LR); Const(31); Op(OpCodes.Shr_Un); LdLoc(LR); Const(30); Op(OpCodes.Shr_Un); Op(OpCodes.Xor); Const(1); Op(OpCodes.And); Const(11); Op(OpCodes.Shl); Op(OpCodes.Or);
                    _il.Emit(OpCodes.Stfld, FFlags);
                    This(); Const(0); _il.Emit(OpCodes.Stfld, FLazyKind);
                    break;
                case 4: case 6: // SHL: CF = the last bit shifted out, OF = top bit of the result ^ CF, AF = 0.
                    StoreArith(() =>
                    {
                        Szp32(LR);
                        LdLoc(LA); InverseCount(); Op(OpCodes.Shr_Un); Const(1); Op(OpCodes.And); Op(OpCodes.Or);
                        LdLoc(LR); Const(31); Op(OpCodes.Shr_Un); LdLoc(LA); InverseCount(); Op(OpCodes.Shr_Un); Op(OpCodes.Xor); Const(1); Op(OpCodes.And); Const(11); Op(OpCodes.Shl); Op(OpCodes.Or);
                    });
                    break;
                case 5: // SHR: CF = the last bit shifted out, OF = the operand's top bit, AF = 0.
                    StoreArith(() =>
                    {
                        Szp32(LR);
                        LdLoc(LA); CountMinus1(); Op(OpCodes.Shr_Un); Const(1); Op(OpCodes.And); Op(OpCodes.Or);
                        LdLoc(LA); Const(20); Op(OpCodes.Shr_Un); Const(X86Cpu.OF); Op(OpCodes.And); Op(OpCodes.Or);
                    });
                    break;
                default: // SAR: CF = the last bit shifted out, OF = AF = 0.
                    StoreArith(() =>
                    {
                        Szp32(LR);
                        LdLoc(LA); CountMinus1(); Op(OpCodes.Shr); Const(1); Op(OpCodes.And); Op(OpCodes.Or);
                    });
                    break;
            }
        }
        LdLoc(LR); St(d.Reg0);
        _il.MarkLabel(skip);
        // By CL the count may be 0 at run time (flags untouched, whatever record was there): unknown.
        _kindAfter = flagsDead || byCl ? KindUnknown : KindEager;
    }

    /// <summary>IMUL r32, r/m32 (, imm): truncated signed product, CF = OF = it did not fit (Imul32); memory read first.</summary>
    private void EmitImul(in DecodedOp d, bool flagsDead)
    {
        switch (d.Form)
        {
            case FastForm.ImulRR: Ld(d.Reg0); StLoc(LA); Ld(d.Reg1); StLoc(LB); break;
            case FastForm.ImulRM: Load32(d); StLoc(LB); Ld(d.Reg0); StLoc(LA); break;
            case FastForm.ImulRRI: Ld(d.Reg1); StLoc(LA); Const(d.Imm); StLoc(LB); break;
            default: Load32(d); StLoc(LA); Const(d.Imm); StLoc(LB); break;
        }
        if (flagsDead)
        {
            LdLoc(LA); LdLoc(LB); Op(OpCodes.Mul); St(d.Reg0);
            _kindAfter = KindUnknown;
            return;
        }
        LdLoc(LA); Op(OpCodes.Conv_I8); LdLoc(LB); Op(OpCodes.Conv_I8); Op(OpCodes.Mul); StLoc(LP);
        LdLoc(LP); Op(OpCodes.Conv_U4); StLoc(LR);
        StoreArith(() =>
        {
            Szp32(LR);
            // p != (int)r: the product did not fit.
            LdLoc(LP); LdLoc(LR); Op(OpCodes.Conv_I8); Op(OpCodes.Ceq); Const(0); Op(OpCodes.Ceq);
            Const(X86Cpu.CF | X86Cpu.OF); Op(OpCodes.Mul); Op(OpCodes.Or);
        });
        LdLoc(LR); St(d.Reg0);
        _kindAfter = KindEager;
    }

    /// <summary>
    /// CMP/TEST r/m8 (Sub(a, b, 0, 1) and Logic(a &amp; b, 1)), memory read first: eager 8-bit flags, so the JCC that
    /// usually follows reads them from _flags.
    /// </summary>
    private void EmitByteCompare(in DecodedOp d)
    {
        switch (d.Form)
        {
            case FastForm.Cmp8RR: case FastForm.Test8RR: Ld8(d.Reg0); StLoc(LA); Ld8(d.Reg1); StLoc(LB); break;
            case FastForm.Cmp8MR: Load8(d); StLoc(LA); Ld8(d.Reg1); StLoc(LB); break;
            case FastForm.Cmp8RM: Load8(d); StLoc(LB); Ld8(d.Reg0); StLoc(LA); break;
            case FastForm.Cmp8RI: case FastForm.Test8RI: Ld8(d.Reg0); StLoc(LA); Const(d.Imm & 0xFF); StLoc(LB); break;
            default: Load8(d); StLoc(LA); Const(d.Imm & 0xFF); StLoc(LB); break; // Cmp8MI, Test8MI
        }
        bool test = d.Form is FastForm.Test8RR or FastForm.Test8RI or FastForm.Test8MI;
        LdLoc(LA); LdLoc(LB); Op(test ? OpCodes.And : OpCodes.Sub); Const(0xFF); Op(OpCodes.And); StLoc(LR);
        StoreArith(() =>
        {
            // Szp(r, 1): PF, SF = bit 7, ZF.
            _il.Emit(OpCodes.Ldsfld, FParity); LdLoc(LR); Op(OpCodes.Ldelem_U1);
            LdLoc(LR); Const(X86Cpu.SF); Op(OpCodes.And); Op(OpCodes.Or);
            LdLoc(LR); Const(0); Op(OpCodes.Ceq); Const(6); Op(OpCodes.Shl); Op(OpCodes.Or);
            if (test) return;
            LdLoc(LA); LdLoc(LB); Op(OpCodes.Xor); LdLoc(LR); Op(OpCodes.Xor); Const(X86Cpu.AF); Op(OpCodes.And); Op(OpCodes.Or);
            LdLoc(LB); LdLoc(LA); Op(OpCodes.Cgt_Un); Op(OpCodes.Or); // CF: b > a
            LdLoc(LA); LdLoc(LB); Op(OpCodes.Xor); LdLoc(LA); LdLoc(LR); Op(OpCodes.Xor); Op(OpCodes.And);
            Const(0x80); Op(OpCodes.And); Const(4); Op(OpCodes.Shl); Op(OpCodes.Or); // OF = 0x800
        });
        _kindAfter = KindEager;
    }

    /// <summary>Pushes CF (0/1) as it stands, read from the record the block knows is pending, else through CarryNow.</summary>
    private void CarryIn()
    {
        switch (_flagKind)
        {
            case KindAdd: This(); _il.Emit(OpCodes.Ldfld, FLazyRes); This(); _il.Emit(OpCodes.Ldfld, FLazyA); Op(OpCodes.Clt_Un); return;
            case KindSub: This(); _il.Emit(OpCodes.Ldfld, FLazyA); This(); _il.Emit(OpCodes.Ldfld, FLazyB); Op(OpCodes.Clt_Un); return;
            case KindLogic: Const(0); return;
            case KindInc: case KindDec: This(); _il.Emit(OpCodes.Ldfld, FLazyCf); return;
            case KindEager: This(); _il.Emit(OpCodes.Ldfld, FFlags); Const(X86Cpu.CF); Op(OpCodes.And); return;
            default: This(); Call(MCarryNow); return;
        }
    }

    /// <summary>ADC/SBB r/m32 and MUL r/m32, in the order the interpreter's AluOp and MulDiv access operands.</summary>
    private void EmitGeneral(in DecodedOp d, bool flagsDead)
    {
        var il = _il;
        ref readonly var ins = ref d.Ins;
        bool memDst = ins.Op0Kind == Iced.Intel.OpKind.Memory;
        bool memSrc = ins.OpCount > 1 && ins.Op1Kind == Iced.Intel.OpKind.Memory;
        if (ins.Code == Iced.Intel.Code.Mul_rm32)
        {
            if (memDst) Load32(d); else Ld(d.Reg0);
            StLoc(LB);
            Ld(0); Op(OpCodes.Conv_U8); LdLoc(LB); Op(OpCodes.Conv_U8); Op(OpCodes.Mul); StLoc(LP);
            LdLoc(LP); Op(OpCodes.Conv_U4); StLoc(LR);
            LdLoc(LP); Const(32); Op(OpCodes.Shr_Un); Op(OpCodes.Conv_U4); StLoc(LA);
            if (!flagsDead)
                StoreArith(() =>
                {
                    Szp32(LR);
                    LdLoc(LA); Const(0); Op(OpCodes.Cgt_Un); Const(X86Cpu.CF | X86Cpu.OF); Op(OpCodes.Mul); Op(OpCodes.Or);
                });
            LdLoc(LR); St(0);
            LdLoc(LA); St(2);
            _kindAfter = flagsDead ? KindUnknown : KindEager;
            return;
        }
        bool sbb = GeneralAluOp(ins.Code) == 3;
        bool imm = ins.Op1Kind != Iced.Intel.OpKind.Register && !memSrc;
        uint immValue = imm ? (uint)ins.GetImmediate(1) : 0;
        if (memDst)
        {
            SaveEa(d);
            This(); Const(d.Seg); il.Emit(OpCodes.Ldloc, _ea);   // WriteM32 arguments
            Ea32Load(d); StLoc(LA);
            if (imm) Const(immValue); else Ld(d.Reg1);
            StLoc(LB);
        }
        else
        {
            if (memSrc) Load32(d); else if (imm) Const(immValue); else Ld(d.Reg1);
            StLoc(LB);
            Ld(d.Reg0); StLoc(LA);
        }
        CarryIn(); StLoc(LC);
        LdLoc(LA); LdLoc(LB); Op(sbb ? OpCodes.Sub : OpCodes.Add); LdLoc(LC); Op(sbb ? OpCodes.Sub : OpCodes.Add); StLoc(LR);
        if (!flagsDead)
            StoreArith(() =>
            {
                Szp32(LR);
                LdLoc(LA); LdLoc(LB); Op(OpCodes.Xor); LdLoc(LR); Op(OpCodes.Xor); Const(X86Cpu.AF); Op(OpCodes.And); Op(OpCodes.Or);
                // OF: ADD (a ^ r) & (b ^ r), SUB (a ^ b) & (a ^ r), top bit.
                if (sbb) { LdLoc(LA); LdLoc(LB); Op(OpCodes.Xor); LdLoc(LA); LdLoc(LR); Op(OpCodes.Xor); }
                else { LdLoc(LA); LdLoc(LR); Op(OpCodes.Xor); LdLoc(LB); LdLoc(LR); Op(OpCodes.Xor); }
                Op(OpCodes.And); Const(20); Op(OpCodes.Shr_Un); Const(X86Cpu.OF); Op(OpCodes.And); Op(OpCodes.Or);
                // CF: ADC a + b + c > 0xFFFFFFFF; SBB b + c > a (both in 64 bits).
                if (sbb) { LdLoc(LB); Op(OpCodes.Conv_U8); LdLoc(LC); Op(OpCodes.Conv_U8); Op(OpCodes.Add); LdLoc(LA); Op(OpCodes.Conv_U8); Op(OpCodes.Cgt_Un); }
                else { LdLoc(LA); Op(OpCodes.Conv_U8); LdLoc(LB); Op(OpCodes.Conv_U8); Op(OpCodes.Add); LdLoc(LC); Op(OpCodes.Conv_U8); Op(OpCodes.Add); Const(32); Op(OpCodes.Shr_Un); Op(OpCodes.Conv_U4); }
                Op(OpCodes.Or);
            });
        LdLoc(LR);
        if (memDst) Store32(d.Seg); else St(d.Reg0);
        _kindAfter = flagsDead ? KindUnknown : KindEager;
    }

    /// <summary>
    /// Pushes condition <paramref name="c"/> as 0/1 when the flags are materialised (an eager setter of the block
    /// came last) or it is a carry condition after ADD/INC/DEC; false when <see cref="Condition"/> must find another way.
    /// </summary>
    private bool KnownCondition(Iced.Intel.ConditionCode c)
    {
        if (_flagKind == KindEager) { EagerCondition(c); return true; }
        if (_flagKind is KindAdd or KindInc or KindDec
            && c is Iced.Intel.ConditionCode.b or Iced.Intel.ConditionCode.ae or Iced.Intel.ConditionCode.be or Iced.Intel.ConditionCode.a)
        {
            // CF from the record (ADD: r < a; INC/DEC: the carry they kept), ZF from its result.
            CarryIn();
            if (c is Iced.Intel.ConditionCode.be or Iced.Intel.ConditionCode.a)
            {
                This(); _il.Emit(OpCodes.Ldfld, FLazyRes); Const(0); Op(OpCodes.Ceq); Op(OpCodes.Or);
            }
            if (c is Iced.Intel.ConditionCode.ae or Iced.Intel.ConditionCode.a) { Const(1); Op(OpCodes.Xor); }
            return true;
        }
        return false;
    }

    /// <summary>Condition <paramref name="c"/> as 0/1 from the materialised flags in <c>_flags</c> (Condition's formulas).</summary>
    private void EagerCondition(Iced.Intel.ConditionCode c)
    {
        void F() { This(); _il.Emit(OpCodes.Ldfld, FFlags); }
        void Bit(int b) { F(); if (b != 0) { Const((uint)b); Op(OpCodes.Shr_Un); } Const(1); Op(OpCodes.And); }
        void SfNeOf() { F(); Const(7); Op(OpCodes.Shr_Un); F(); Const(11); Op(OpCodes.Shr_Un); Op(OpCodes.Xor); Const(1); Op(OpCodes.And); }
        void Flip() { Const(1); Op(OpCodes.Xor); }
        switch (c)
        {
            case Iced.Intel.ConditionCode.o: Bit(11); break;
            case Iced.Intel.ConditionCode.no: Bit(11); Flip(); break;
            case Iced.Intel.ConditionCode.b: Bit(0); break;
            case Iced.Intel.ConditionCode.ae: Bit(0); Flip(); break;
            case Iced.Intel.ConditionCode.e: Bit(6); break;
            case Iced.Intel.ConditionCode.ne: Bit(6); Flip(); break;
            case Iced.Intel.ConditionCode.be: F(); Const(X86Cpu.CF | X86Cpu.ZF); Op(OpCodes.And); Const(0); Op(OpCodes.Cgt_Un); break;
            case Iced.Intel.ConditionCode.a: F(); Const(X86Cpu.CF | X86Cpu.ZF); Op(OpCodes.And); Const(0); Op(OpCodes.Ceq); break;
            case Iced.Intel.ConditionCode.s: Bit(7); break;
            case Iced.Intel.ConditionCode.ns: Bit(7); Flip(); break;
            case Iced.Intel.ConditionCode.p: Bit(2); break;
            case Iced.Intel.ConditionCode.np: Bit(2); Flip(); break;
            case Iced.Intel.ConditionCode.l: SfNeOf(); break;
            case Iced.Intel.ConditionCode.ge: SfNeOf(); Flip(); break;
            case Iced.Intel.ConditionCode.le: Bit(6); SfNeOf(); Op(OpCodes.Or); break;
            default: Bit(6); SfNeOf(); Op(OpCodes.Or); Flip(); break;
        }
    }
}
