using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// Operand access for Iced instructions: registers by table lookup, memory through segment + effective address.
public sealed partial class X86Cpu
{
    private static readonly byte[] RegIndex = new byte[256];
    private static readonly byte[] RegShift = new byte[256];
    private static readonly uint[] RegMask = new uint[256];
    /// <summary>Operand size in bytes of each GPR; 0 for anything else.</summary>
    internal static readonly byte[] RegSize = new byte[256];
    internal static readonly byte[] MemSizeBytes = new byte[512];

    static X86Cpu()
    {
        foreach (Register r in Enum.GetValues<Register>())
        {
            int i = (int)r;
            if (i >= 256) continue;
            if (r.IsGPR8())
            {
                int n = r.GetNumber();
                if (n >= 8) continue;
                RegIndex[i] = (byte)(n < 4 ? n : n - 4);
                RegShift[i] = (byte)(n < 4 ? 0 : 8);
                RegMask[i] = 0xFF;
                RegSize[i] = 1;
            }
            else if (r.IsGPR16() && r.GetNumber() < 8) { RegIndex[i] = (byte)r.GetNumber(); RegMask[i] = 0xFFFF; RegSize[i] = 2; }
            else if (r.IsGPR32() && r.GetNumber() < 8) { RegIndex[i] = (byte)r.GetNumber(); RegMask[i] = 0xFFFFFFFF; RegSize[i] = 4; }
        }
        foreach (MemorySize m in Enum.GetValues<MemorySize>())
            if ((int)m < MemSizeBytes.Length) MemSizeBytes[(int)m] = (byte)Math.Min(255, m.GetSize());
        for (int v = 0; v < 256; v++)
        {
            int bits = System.Numerics.BitOperations.PopCount((uint)v);
            Parity[v] = (bits & 1) == 0 ? (byte)PF : (byte)0;
        }
    }

    internal static readonly byte[] Parity = new byte[256];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint GetReg(Register r)
    {
        int i = (int)r;
        return (R[RegIndex[i]] >> RegShift[i]) & RegMask[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetReg(Register r, uint v)
    {
        int i = (int)r;
        int idx = RegIndex[i];
        int sh = RegShift[i];
        uint m = RegMask[i] << sh;
        R[idx] = (R[idx] & ~m) | ((v << sh) & m);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int SegOf(in Instruction ins) => ins.MemorySegment - Register.ES;

    /// <summary>Effective address (offset in the segment), wrapped to 16 bits for 16-bit addressing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Ea(in Instruction ins)
    {
        uint ea = ins.MemoryDisplacement32;
        Register b = ins.MemoryBase, x = ins.MemoryIndex;
        bool a16 = false;
        if (b != Register.None) { ea += GetReg(b); a16 = RegSize[(int)b] == 2; }
        if (x != Register.None) { ea += GetReg(x) * (uint)ins.MemoryIndexScale; a16 |= RegSize[(int)x] == 2; }
        else if (b == Register.None) a16 = ins.MemoryDisplSize == 2;
        return a16 ? ea & 0xFFFF : ea;
    }

    /// <summary>The memory operand uses 16-bit addressing (the same rule as <see cref="Ea"/>).</summary>
    internal static bool Address16(in Instruction ins)
    {
        Register b = ins.MemoryBase, x = ins.MemoryIndex;
        if (b == Register.None && x == Register.None) return ins.MemoryDisplSize == 2;
        return (b != Register.None && RegSize[(int)b] == 2) || (x != Register.None && RegSize[(int)x] == 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Size0(in Instruction ins) =>
        ins.Op0Kind == OpKind.Register ? RegSize[(int)ins.Op0Register] : MemSizeBytes[(int)ins.MemorySize];

    internal uint ReadOp(in Instruction ins, int n, int size)
    {
        switch (ins.GetOpKind(n))
        {
            case OpKind.Register: return GetReg(ins.GetOpRegister(n));
            case OpKind.Memory: return ReadSized(SegOf(in ins), Ea(in ins), size);
            default: return (uint)ins.GetImmediate(n);
        }
    }

    internal void WriteOp0(in Instruction ins, int size, uint v)
    {
        if (ins.Op0Kind == OpKind.Register) SetReg(ins.Op0Register, v);
        else WriteSized(SegOf(in ins), Ea(in ins), size, v);
    }

    internal static uint SizeMask(int size) => size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
}
