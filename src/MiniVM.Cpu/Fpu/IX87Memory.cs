namespace MiniVM.Cpu.Fpu;

/// <summary>
/// The CPU's view of the x87 instruction being executed: its memory operand and the pointers the FPU
/// records for FNSTENV/FNSAVE. The CPU implements it; X87 never does segmentation or paging itself.
/// </summary>
public interface IX87Memory
{
    /// <summary>Reads <paramref name="destination"/>.Length bytes at effective address + offset.
    /// Faults (#GP, #SS, #PF) are the CPU's exceptions and propagate through X87 untouched.</summary>
    void ReadOperand(int offset, Span<byte> destination);

    /// <summary>Writes bytes at effective address + offset. X87 writes before it commits any state,
    /// so a fault leaves the FPU as it was (the instruction can be restarted).</summary>
    void WriteOperand(int offset, ReadOnlySpan<byte> source);

    /// <summary>Operand size of the instruction: selects the 28/108-byte FNSTENV/FNSAVE images over 14/94.</summary>
    bool Is32BitOperandSize { get; }

    /// <summary>Protected-mode images hold selector:offset pointers; real and V86 mode ones hold linear addresses.</summary>
    bool IsProtectedMode { get; }

    /// <summary>CS of the instruction, recorded as the FPU instruction pointer selector.</summary>
    ushort InstructionCs { get; }

    /// <summary>EIP of the instruction (of its first prefix), recorded as the FPU instruction pointer.</summary>
    uint InstructionEip { get; }

    /// <summary>Segment selector of the memory operand (for the FPU data pointer).</summary>
    ushort OperandSelector { get; }

    /// <summary>Effective address (offset within the segment) of the memory operand.</summary>
    uint OperandOffset { get; }
}
