namespace MiniVM.Cpu.Tests.Support;

/// <summary>
/// The execution engines a test can run a guest under, by name (theory data stays readable in test names).
/// "interpreter" is the reference; "jit" is the engine the differential, SingleStep and self-modifying-code tests hold
/// to it.
/// </summary>
public static class CpuEngines
{
    public const string Interpreter = "interpreter";
    public const string Jit = "jit";

    public static TheoryData<string> All => new() { Interpreter, Jit };

    /// <summary>Puts <paramref name="cpu"/> under the named engine.</summary>
    public static X86Cpu Use(this X86Cpu cpu, string engine)
    {
        cpu.Engine = engine switch
        {
            Interpreter => CpuEngine.Interpreter,
            Jit => CpuEngine.Jit,
            _ => throw new ArgumentException($"unknown engine '{engine}'", nameof(engine)),
        };
        return cpu;
    }
}
