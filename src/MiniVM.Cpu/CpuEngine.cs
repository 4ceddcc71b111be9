namespace MiniVM.Cpu;

/// <summary>How <see cref="X86Cpu.Run"/> executes guest code. Both engines give the same architectural results,
/// instruction counts and faults; the interpreter is the reference.</summary>
public enum CpuEngine
{
    /// <summary>Every instruction through the decode cache and the interpreter's handlers.</summary>
    Interpreter,
    /// <summary>Hot straight-line blocks translated to IL (<c>DynamicMethod</c>) and compiled by the .NET JIT; cold code interpreted.</summary>
    Jit,
}
