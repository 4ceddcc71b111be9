namespace MiniVM.Cpu;

/// <summary>The CPU's INTR pin and its interrupt-acknowledge cycle (the 8259's INTA), as seen by the CPU.</summary>
public interface IInterruptController
{
    /// <summary>True while INTR is asserted.</summary>
    bool InterruptPending { get; }

    /// <summary>The INTA cycle: returns the vector and lets the controller mark it in service.</summary>
    byte AcknowledgeInterrupt();
}
