using Iced.Intel;
using MiniVM.Cpu.Fpu;

namespace MiniVM.Cpu;

/// <summary>
/// The current x87 instruction's memory operand as the FPU sees it: segment:EA with limit checks and paging
/// done by the CPU, so faults are ordinary <see cref="GuestFault"/>s.
/// </summary>
internal sealed class FpuOperandAccess(X86Cpu cpu) : IX87Memory
{
    private int _seg;
    private uint _ea;
    private bool _a16;
    private bool _op32;

    public void Setup(in Instruction ins)
    {
        _op32 = ins.MemorySize switch
        {
            MemorySize.FpuEnv28 or MemorySize.FpuState108 => true,
            MemorySize.FpuEnv14 or MemorySize.FpuState94 => false,
            _ => cpu.CodeBits == 32,
        };
        if (ins.Op0Kind == OpKind.Memory || ins.Op1Kind == OpKind.Memory)
        {
            _seg = X86Cpu.SegOf(in ins);
            _ea = cpu.Ea(in ins);
            _a16 = X86Cpu.IsAddress16(in ins);
        }
        else
        {
            _seg = 3;
            _ea = 0;
            _a16 = false;
        }
    }

    private uint Offset(int offset) => _a16 ? (_ea + (uint)offset) & 0xFFFF : _ea + (uint)offset;

    public void ReadOperand(int offset, Span<byte> destination)
    {
        if (destination.Length == 0) return;
        uint start = Offset(offset);
        cpu.LinearForRead(_seg, start, (uint)destination.Length);
        for (int k = 0; k < destination.Length; k++) destination[k] = cpu.Read8(_seg, Offset(offset + k));
    }

    public void WriteOperand(int offset, ReadOnlySpan<byte> source)
    {
        if (source.Length == 0) return;
        uint start = Offset(offset);
        uint lin = cpu.LinearForWrite(_seg, start, (uint)source.Length);
        cpu.ProbeWrite(lin, source.Length);
        for (int k = 0; k < source.Length; k++) cpu.Write8(_seg, Offset(offset + k), source[k]);
    }

    public bool Is32BitOperandSize => _op32;
    public bool IsProtectedMode => cpu.ProtectedMode && !cpu.Virtual8086Mode;
    public ushort InstructionCs => cpu.GetSegment(SegmentRegister.Cs).Selector;
    public uint InstructionEip => cpu.InstructionStartEip;
    public ushort OperandSelector => cpu.GetSegment((SegmentRegister)_seg).Selector;
    public uint OperandOffset => _ea;
}
