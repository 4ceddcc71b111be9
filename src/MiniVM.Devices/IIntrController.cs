namespace MiniVM.Devices;

/// <summary>
/// A controller driving the processor's INTR pin, whose INTA cycle answers the vector: the 8259 pair, which reaches
/// the CPU through the local APIC's LINT0 in ExtINT mode (or directly while the APIC is globally disabled).
/// </summary>
public interface IIntrController
{
    /// <summary>True while INTR is asserted.</summary>
    bool InterruptPending { get; }

    /// <summary>The INTA cycle: the vector, with the request moved into service.</summary>
    byte Acknowledge();

    /// <summary>Raised when <see cref="InterruptPending"/> changes (lets a halted CPU wake up without polling).</summary>
    event Action? OutputChanged;
}
