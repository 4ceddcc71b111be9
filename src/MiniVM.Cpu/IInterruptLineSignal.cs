namespace MiniVM.Cpu;

/// <summary>
/// Optional companion of <see cref="IInterruptController"/>: a controller that raises <see cref="LineChanged"/>
/// whenever <see cref="IInterruptController.InterruptPending"/> may have changed. The CPU then asks for INTR only
/// after such a change instead of before every instruction while IF = 1; interrupt timing is unchanged, since
/// the line can only move during an instruction's bus cycles or between <see cref="X86Cpu.Run"/> calls.
/// </summary>
public interface IInterruptLineSignal
{
    event Action? LineChanged;
}
