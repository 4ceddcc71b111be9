namespace MiniVM.Cpu.Fpu;

/// <summary>The RC field of the control word (SDM vol. 1 §4.8.4).</summary>
public enum RoundingMode
{
    Nearest = 0,
    Down = 1,
    Up = 2,
    TowardZero = 3,
}
