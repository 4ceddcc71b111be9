namespace MiniVM.Cpu.Tests.Differential;

/// <summary>
/// The budgets a run passes to <see cref="X86Cpu.Run"/>, call by call: single steps, a few instructions (which split
/// blocks anywhere), dozens, thousands; and before some calls an external interrupt is raised. Deterministic per seed,
/// so both engines get the same sequence.
/// </summary>
public sealed class RunSchedule(int seed)
{
    private readonly Random _rng = new(seed);

    /// <summary>Every call a single step with no interrupts (for tracing a program by hand).</summary>
    public bool SingleSteps { get; init; }

    public (int Budget, bool Interrupt) Next()
    {
        if (SingleSteps) return (1, false);
        int budget = _rng.Next(16) switch
        {
            0 or 1 => 1,
            2 or 3 or 4 => _rng.Next(2, 8),
            5 or 6 or 7 => _rng.Next(8, 64),
            8 or 9 => _rng.Next(64, 500),
            10 => _rng.Next(500, 5000),
            11 => 100_000,
            _ => _rng.Next(1, 40),
        };
        return (budget, _rng.Next(12) == 0);
    }
}
