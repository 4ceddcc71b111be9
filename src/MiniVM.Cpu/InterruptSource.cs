namespace MiniVM.Cpu;

/// <summary>What raised an interrupt: decides the EXT bit, the gate DPL check and V86 handling.</summary>
internal enum InterruptSource
{
    /// <summary>INTR from the interrupt controller.</summary>
    External,
    /// <summary>A CPU exception (fault or trap).</summary>
    Exception,
    /// <summary>INT n.</summary>
    Software,
    /// <summary>INT3 / INTO: software, but not redirected by the VME bitmap.</summary>
    Breakpoint,
    /// <summary>INT1 (ICEBP): delivered like a hardware #DB, without the DPL check.</summary>
    Icebp,
}
