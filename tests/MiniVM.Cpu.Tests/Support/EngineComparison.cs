namespace MiniVM.Cpu.Tests.Support;

/// <summary>
/// The translating engine held to the interpreter: machines that translate code on first sight, the architectural
/// state both must agree on (registers, EFLAGS, EIP, instruction count), and a run in random budgets compared after
/// every call, so budgets also end inside blocks and chains.
/// </summary>
public static class EngineComparison
{
    public static TestMachine NewMachine(CpuEngine engine)
    {
        var m = new TestMachine();
        m.Cpu.Engine = engine;
        m.Cpu.JitThreshold = 1; // translate on first sight, so straight-line test code runs translated
        return m;
    }

    public static uint[] Snapshot(TestMachine m)
    {
        var s = new uint[12];
        for (int r = 0; r < 8; r++) s[r] = m.Cpu.GetRegister((GeneralRegister)r);
        s[8] = m.Cpu.Eflags;
        s[9] = m.Cpu.Eip;
        s[10] = (uint)m.Cpu.InstructionCount;
        s[11] = (uint)(m.Cpu.InstructionCount >> 32);
        return s;
    }

    public static void RunInRandomBudgets(TestMachine jit, TestMachine interp, int seed, int maxBudget)
    {
        var rng = new Random(seed);
        for (int calls = 0; !interp.Cpu.Halted; calls++)
        {
            Assert.True(calls < 1_000_000, "the interpreter never halted");
            int n = rng.Next(1, maxBudget);
            Assert.Equal(interp.Cpu.Run(n), jit.Cpu.Run(n));
            Assert.Equal(Snapshot(interp), Snapshot(jit));
        }
        Assert.True(jit.Cpu.Halted);
    }
}
