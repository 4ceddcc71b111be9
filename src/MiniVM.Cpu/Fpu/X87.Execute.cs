using System.Buffers.Binary;
using Iced.Intel;

namespace MiniVM.Cpu.Fpu;

public sealed partial class X87
{
    /// <summary>Executes one decoded x87 instruction. Memory faults raised by <paramref name="memory"/> propagate;
    /// loads read before any state changes and stores write before they commit, so a faulting instruction can
    /// be restarted. Throws <see cref="ArgumentException"/> for a code that is not a P6 x87 instruction
    /// (FXSAVE/FXRSTOR, 287XL/387SL oddities): the CPU should raise #UD for those before calling.</summary>
    public void Execute(in Instruction instruction, IX87Memory memory)
    {
        Code code = instruction.Code;
        if (!IsControl(code))
        {
            RecordPointers(instruction, memory);
        }
        switch (code)
        {
            case Code.Wait:
            case Code.Fnstsw_AX:
            case Code.Fstsw_AX:
                // The CPU does the waiting (#MF) and stores StatusWord into AX itself.
                break;
            case Code.Fnop:
            case Code.Fneni:
            case Code.Fndisi:
            case Code.Fdisi:
            case Code.Fnsetpm:
            case Code.Fsetpm:
            case Code.Frstpm:
                // 8087/287 interrupt-enable and mode switches are no-ops on the 387 and later.
                break;
            case Code.Fninit:
            case Code.Finit:
                Initialize();
                break;
            case Code.Fnclex:
            case Code.Fclex:
                statusWord &= 0x7F00;
                break;
            case Code.Fldcw_m2byte:
                LoadControlWord(ReadUInt16(memory, 0));
                break;
            case Code.Fnstcw_m2byte:
            case Code.Fstcw_m2byte:
                WriteUInt16(memory, 0, controlWord);
                break;
            case Code.Fnstsw_m2byte:
            case Code.Fstsw_m2byte:
                WriteUInt16(memory, 0, StatusWord);
                break;
            case Code.Fnstenv_m14byte:
            case Code.Fstenv_m14byte:
            case Code.Fnstenv_m28byte:
            case Code.Fstenv_m28byte:
                StoreEnvironment(memory);
                break;
            case Code.Fldenv_m14byte:
            case Code.Fldenv_m28byte:
                LoadEnvironment(memory);
                break;
            case Code.Fnsave_m94byte:
            case Code.Fsave_m94byte:
            case Code.Fnsave_m108byte:
            case Code.Fsave_m108byte:
                Save(memory);
                break;
            case Code.Frstor_m94byte:
            case Code.Frstor_m108byte:
                Restore(memory);
                break;

            case Code.Fld_m32fp:
            {
                X87Exceptions raised = X87Exceptions.None;
                Float80 value = RealFormats.FromSingle(ReadUInt32(memory, 0), ref raised);
                Push(value, raised);
                break;
            }
            case Code.Fld_m64fp:
            {
                X87Exceptions raised = X87Exceptions.None;
                Float80 value = RealFormats.FromDouble(ReadUInt64(memory, 0), ref raised);
                Push(value, raised);
                break;
            }
            case Code.Fld_m80fp:
            {
                Span<byte> bytes = stackalloc byte[10];
                memory.ReadOperand(0, bytes);
                Push(Float80.Read(bytes), X87Exceptions.None);
                break;
            }
            case Code.Fild_m16int:
                Push(ExtendedArithmetic.FromInt64((short)ReadUInt16(memory, 0)), X87Exceptions.None);
                break;
            case Code.Fild_m32int:
                Push(ExtendedArithmetic.FromInt64((int)ReadUInt32(memory, 0)), X87Exceptions.None);
                break;
            case Code.Fild_m64int:
                Push(ExtendedArithmetic.FromInt64((long)ReadUInt64(memory, 0)), X87Exceptions.None);
                break;
            case Code.Fbld_m80bcd:
                LoadBcd(memory);
                break;
            case Code.Fld_sti:
            {
                int source = StOperand(instruction, 0);
                if (IsEmpty(source))
                {
                    Push(Float80.Indefinite, X87Exceptions.Invalid | X87Exceptions.StackFault);
                }
                else
                {
                    Push(St(source), X87Exceptions.None);
                }
                break;
            }
            case Code.Fld1:
                Push(Float80.One, X87Exceptions.None);
                break;
            case Code.Fldz:
                Push(Float80.PositiveZero, X87Exceptions.None);
                break;
            case Code.Fldpi:
                PushConstant(0xC90FDAA22168C234, 0xC4C6628B80DC1CD1, 1);
                break;
            case Code.Fldl2t:
                PushConstant(0xD49A784BCD1B8AFE, 0x492BF6FF4DAFDB4C, 1);
                break;
            case Code.Fldl2e:
                PushConstant(0xB8AA3B295C17F0BB, 0xBE87FED0691D3E89, 0);
                break;
            case Code.Fldlg2:
                PushConstant(0x9A209A84FBCFF798, 0x8F8959AC0B7C9178, -2);
                break;
            case Code.Fldln2:
                PushConstant(0xB17217F7D1CF79AB, 0xC9E3B39803F2F6AF, -1);
                break;

            case Code.Fst_m32fp:
                StoreReal(memory, 4, pop: false);
                break;
            case Code.Fstp_m32fp:
                StoreReal(memory, 4, pop: true);
                break;
            case Code.Fst_m64fp:
                StoreReal(memory, 8, pop: false);
                break;
            case Code.Fstp_m64fp:
                StoreReal(memory, 8, pop: true);
                break;
            case Code.Fstp_m80fp:
                StoreExtended(memory);
                break;
            case Code.Fst_sti:
                StoreRegister(StOperand(instruction, 0), pop: false);
                break;
            case Code.Fstp_sti:
            case Code.Fstp_sti_DFD0:
            case Code.Fstp_sti_DFD8:
            case Code.Fstpnce_sti:
                StoreRegister(StOperand(instruction, 0), pop: true);
                break;
            case Code.Fist_m16int:
                StoreInteger(memory, 2, pop: false, Rounding);
                break;
            case Code.Fistp_m16int:
                StoreInteger(memory, 2, pop: true, Rounding);
                break;
            case Code.Fist_m32int:
                StoreInteger(memory, 4, pop: false, Rounding);
                break;
            case Code.Fistp_m32int:
                StoreInteger(memory, 4, pop: true, Rounding);
                break;
            case Code.Fistp_m64int:
                StoreInteger(memory, 8, pop: true, Rounding);
                break;
            case Code.Fisttp_m16int:
                StoreInteger(memory, 2, pop: true, RoundingMode.TowardZero);
                break;
            case Code.Fisttp_m32int:
                StoreInteger(memory, 4, pop: true, RoundingMode.TowardZero);
                break;
            case Code.Fisttp_m64int:
                StoreInteger(memory, 8, pop: true, RoundingMode.TowardZero);
                break;
            case Code.Fbstp_m80bcd:
                StoreBcd(memory);
                break;

            case Code.Fadd_m32fp:
            case Code.Fmul_m32fp:
            case Code.Fsub_m32fp:
            case Code.Fsubr_m32fp:
            case Code.Fdiv_m32fp:
            case Code.Fdivr_m32fp:
            {
                X87Exceptions raised = X87Exceptions.None;
                Float80 source = RealFormats.FromSingle(ReadUInt32(memory, 0), ref raised);
                ArithmeticOnSt0(instruction.Mnemonic, source, raised);
                break;
            }
            case Code.Fadd_m64fp:
            case Code.Fmul_m64fp:
            case Code.Fsub_m64fp:
            case Code.Fsubr_m64fp:
            case Code.Fdiv_m64fp:
            case Code.Fdivr_m64fp:
            {
                X87Exceptions raised = X87Exceptions.None;
                Float80 source = RealFormats.FromDouble(ReadUInt64(memory, 0), ref raised);
                ArithmeticOnSt0(instruction.Mnemonic, source, raised);
                break;
            }
            case Code.Fiadd_m16int:
            case Code.Fimul_m16int:
            case Code.Fisub_m16int:
            case Code.Fisubr_m16int:
            case Code.Fidiv_m16int:
            case Code.Fidivr_m16int:
                ArithmeticOnSt0(instruction.Mnemonic, ExtendedArithmetic.FromInt64((short)ReadUInt16(memory, 0)), X87Exceptions.None);
                break;
            case Code.Fiadd_m32int:
            case Code.Fimul_m32int:
            case Code.Fisub_m32int:
            case Code.Fisubr_m32int:
            case Code.Fidiv_m32int:
            case Code.Fidivr_m32int:
                ArithmeticOnSt0(instruction.Mnemonic, ExtendedArithmetic.FromInt64((int)ReadUInt32(memory, 0)), X87Exceptions.None);
                break;
            case Code.Fadd_st0_sti:
            case Code.Fmul_st0_sti:
            case Code.Fsub_st0_sti:
            case Code.Fsubr_st0_sti:
            case Code.Fdiv_st0_sti:
            case Code.Fdivr_st0_sti:
                ArithmeticOnRegisters(instruction.Mnemonic, 0, StOperand(instruction, 1), pop: false);
                break;
            case Code.Fadd_sti_st0:
            case Code.Fmul_sti_st0:
            case Code.Fsub_sti_st0:
            case Code.Fsubr_sti_st0:
            case Code.Fdiv_sti_st0:
            case Code.Fdivr_sti_st0:
                ArithmeticOnRegisters(instruction.Mnemonic, StOperand(instruction, 0), 0, pop: false);
                break;
            case Code.Faddp_sti_st0:
            case Code.Fmulp_sti_st0:
            case Code.Fsubp_sti_st0:
            case Code.Fsubrp_sti_st0:
            case Code.Fdivp_sti_st0:
            case Code.Fdivrp_sti_st0:
                ArithmeticOnRegisters(instruction.Mnemonic, StOperand(instruction, 0), 0, pop: true);
                break;

            case Code.Fcom_m32fp:
            case Code.Fcomp_m32fp:
            {
                X87Exceptions raised = X87Exceptions.None;
                Float80 source = RealFormats.FromSingle(ReadUInt32(memory, 0), ref raised);
                CompareSt0(source, raised, CompareKind.Ordered, pops: code == Code.Fcomp_m32fp ? 1 : 0);
                break;
            }
            case Code.Fcom_m64fp:
            case Code.Fcomp_m64fp:
            {
                X87Exceptions raised = X87Exceptions.None;
                Float80 source = RealFormats.FromDouble(ReadUInt64(memory, 0), ref raised);
                CompareSt0(source, raised, CompareKind.Ordered, pops: code == Code.Fcomp_m64fp ? 1 : 0);
                break;
            }
            case Code.Ficom_m16int:
            case Code.Ficomp_m16int:
                CompareSt0(ExtendedArithmetic.FromInt64((short)ReadUInt16(memory, 0)), X87Exceptions.None, CompareKind.Ordered,
                    pops: code == Code.Ficomp_m16int ? 1 : 0);
                break;
            case Code.Ficom_m32int:
            case Code.Ficomp_m32int:
                CompareSt0(ExtendedArithmetic.FromInt64((int)ReadUInt32(memory, 0)), X87Exceptions.None, CompareKind.Ordered,
                    pops: code == Code.Ficomp_m32int ? 1 : 0);
                break;
            case Code.Fcom_st0_sti:
            case Code.Fcom_st0_sti_DCD0:
                CompareRegisters(StOperand(instruction, 1), CompareKind.Ordered, pops: 0);
                break;
            case Code.Fcomp_st0_sti:
            case Code.Fcomp_st0_sti_DCD8:
            case Code.Fcomp_st0_sti_DED0:
                CompareRegisters(StOperand(instruction, 1), CompareKind.Ordered, pops: 1);
                break;
            case Code.Fcompp:
                CompareRegisters(1, CompareKind.Ordered, pops: 2);
                break;
            case Code.Fucom_st0_sti:
                CompareRegisters(StOperand(instruction, 1), CompareKind.Unordered, pops: 0);
                break;
            case Code.Fucomp_st0_sti:
                CompareRegisters(StOperand(instruction, 1), CompareKind.Unordered, pops: 1);
                break;
            case Code.Fucompp:
                CompareRegisters(1, CompareKind.Unordered, pops: 2);
                break;
            case Code.Fcomi_st0_sti:
                CompareRegisters(StOperand(instruction, 1), CompareKind.OrderedEflags, pops: 0);
                break;
            case Code.Fcomip_st0_sti:
                CompareRegisters(StOperand(instruction, 1), CompareKind.OrderedEflags, pops: 1);
                break;
            case Code.Fucomi_st0_sti:
                CompareRegisters(StOperand(instruction, 1), CompareKind.UnorderedEflags, pops: 0);
                break;
            case Code.Fucomip_st0_sti:
                CompareRegisters(StOperand(instruction, 1), CompareKind.UnorderedEflags, pops: 1);
                break;
            case Code.Ftst:
                if (IsEmpty(0))
                {
                    UnorderedUnderflow(CompareKind.Ordered, pops: 0);
                }
                else
                {
                    Compare(St(0), Float80.PositiveZero, X87Exceptions.None, CompareKind.Ordered, pops: 0);
                }
                break;
            case Code.Fxam:
                Examine();
                break;

            case Code.Fxch_st0_sti:
            case Code.Fxch_st0_sti_DDC8:
            case Code.Fxch_st0_sti_DFC8:
                Exchange(StOperand(instruction, 1));
                break;
            case Code.Ffree_sti:
                emptyMask |= (byte)(1 << Physical(StOperand(instruction, 0)));
                break;
            case Code.Ffreep_sti:
                emptyMask |= (byte)(1 << Physical(StOperand(instruction, 0)));
                Pop();
                break;
            case Code.Fincstp:
                top = (top + 1) & 7;
                SetC1(false);
                break;
            case Code.Fdecstp:
                top = (top - 1) & 7;
                SetC1(false);
                break;
            case Code.Fcmovb_st0_sti:
            case Code.Fcmove_st0_sti:
            case Code.Fcmovbe_st0_sti:
            case Code.Fcmovu_st0_sti:
            case Code.Fcmovnb_st0_sti:
            case Code.Fcmovne_st0_sti:
            case Code.Fcmovnbe_st0_sti:
            case Code.Fcmovnu_st0_sti:
                ConditionalMove(instruction.Mnemonic, StOperand(instruction, 1));
                break;

            case Code.Fchs:
            case Code.Fabs:
                if (IsEmpty(0))
                {
                    StackUnderflow(0, pop: false);
                }
                else
                {
                    SetSt(0, code == Code.Fchs ? St(0).Negate() : St(0).Abs());
                    SetC1(false);
                }
                break;
            case Code.Fsqrt:
                if (IsEmpty(0))
                {
                    StackUnderflow(0, pop: false);
                }
                else
                {
                    RoundingContext ctx = ArithmeticContext();
                    Float80 result = ExtendedArithmetic.SquareRoot(St(0), ref ctx);
                    Commit(0, result, ctx, pop: false);
                }
                break;
            case Code.Frndint:
                RoundToInteger();
                break;
            case Code.Fscale:
                Scale();
                break;
            case Code.Fxtract:
                Extract();
                break;
            case Code.Fprem:
                PartialRemainder(nearest: false);
                break;
            case Code.Fprem1:
                PartialRemainder(nearest: true);
                break;
            case Code.Fsin:
            case Code.Fcos:
            case Code.Fptan:
            case Code.Fsincos:
                Trigonometric(code);
                break;
            case Code.Fpatan:
                ArcTangent();
                break;
            case Code.F2xm1:
                TwoToXMinusOne();
                break;
            case Code.Fyl2x:
                YLog2X(plusOne: false);
                break;
            case Code.Fyl2xp1:
                YLog2X(plusOne: true);
                break;
            default:
                throw new ArgumentException($"{code} is not an x87 instruction this P6-class FPU implements", nameof(instruction));
        }
    }

    /// <summary>Control instructions leave the last-instruction pointers alone (SDM vol. 1 §8.1.8).</summary>
    private static bool IsControl(Code code) => code switch
    {
        Code.Wait or Code.Fninit or Code.Finit or Code.Fnclex or Code.Fclex or Code.Fldcw_m2byte
            or Code.Fnstcw_m2byte or Code.Fstcw_m2byte or Code.Fnstsw_m2byte or Code.Fstsw_m2byte
            or Code.Fnstsw_AX or Code.Fstsw_AX or Code.Fnstenv_m14byte or Code.Fstenv_m14byte
            or Code.Fnstenv_m28byte or Code.Fstenv_m28byte or Code.Fldenv_m14byte or Code.Fldenv_m28byte
            or Code.Fnsave_m94byte or Code.Fsave_m94byte or Code.Fnsave_m108byte or Code.Fsave_m108byte
            or Code.Frstor_m94byte or Code.Frstor_m108byte
            or Code.Fneni or Code.Fndisi or Code.Fdisi or Code.Fnsetpm or Code.Fsetpm or Code.Frstpm => true,
        _ => false,
    };

    private void RecordPointers(in Instruction instruction, IX87Memory memory)
    {
        instructionOffset = memory.InstructionEip;
        instructionSelector = memory.InstructionCs;
        lastOpcode = X87Opcode.Of(instruction);
        if (instruction.Op0Kind == OpKind.Memory || (instruction.OpCount > 1 && instruction.Op1Kind == OpKind.Memory))
        {
            dataOffset = memory.OperandOffset;
            dataSelector = memory.OperandSelector;
        }
    }

    private static int StOperand(in Instruction instruction, int operand) => instruction.GetOpRegister(operand) - Register.ST0;

    private void LoadControlWord(ushort value)
    {
        // Bits 6 reads as 1 and bits 13–15 as 0 on the 387 and later; X (bit 12) is kept but has no effect.
        controlWord = (ushort)((value & 0x1F3F) | 0x0040);
        UpdateSummary();
    }

    private static ushort ReadUInt16(IX87Memory memory, int offset)
    {
        Span<byte> bytes = stackalloc byte[2];
        memory.ReadOperand(offset, bytes);
        return BinaryPrimitives.ReadUInt16LittleEndian(bytes);
    }

    private static uint ReadUInt32(IX87Memory memory, int offset)
    {
        Span<byte> bytes = stackalloc byte[4];
        memory.ReadOperand(offset, bytes);
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes);
    }

    private static ulong ReadUInt64(IX87Memory memory, int offset)
    {
        Span<byte> bytes = stackalloc byte[8];
        memory.ReadOperand(offset, bytes);
        return BinaryPrimitives.ReadUInt64LittleEndian(bytes);
    }

    private static void WriteUInt16(IX87Memory memory, int offset, ushort value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        memory.WriteOperand(offset, bytes);
    }

    private static void WriteUInt32(IX87Memory memory, int offset, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        memory.WriteOperand(offset, bytes);
    }

    private static void WriteUInt64(IX87Memory memory, int offset, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        memory.WriteOperand(offset, bytes);
    }
}
