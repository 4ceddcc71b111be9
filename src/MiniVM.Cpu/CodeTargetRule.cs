namespace MiniVM.Cpu;

/// <summary>
/// Which privilege rule a far JMP/CALL applies to its target code segment (SDM vol. 3 §5.8.2, §5.8.6).
/// </summary>
internal enum CodeTargetRule
{
    /// <summary>Direct far JMP/CALL: nonconforming needs DPL = CPL and RPL ≤ CPL; conforming needs DPL ≤ CPL.</summary>
    Direct,

    /// <summary>JMP through a call gate: as direct, but the gate's target RPL is not checked.</summary>
    JumpGate,

    /// <summary>CALL through a call gate: DPL ≤ CPL (a nonconforming target may raise privilege).</summary>
    CallGate,
}
