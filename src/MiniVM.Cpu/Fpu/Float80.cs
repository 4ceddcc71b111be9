namespace MiniVM.Cpu.Fpu;

/// <summary>An 80-bit extended-precision value exactly as the x87 stores it.</summary>
public readonly record struct Float80(ulong Significand, ushort SignExponent);
