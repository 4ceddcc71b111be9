namespace MiniVM.Cpu;

/// <summary>Why a task switch happens; it decides busy bits, NT and the back link (SDM vol. 3 Table 7-2).</summary>
internal enum TaskSwitchReason
{
    Jmp,
    Call,
    Iret,
    Interrupt,
}
