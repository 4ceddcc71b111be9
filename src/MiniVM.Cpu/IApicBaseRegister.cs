namespace MiniVM.Cpu;

/// <summary>
/// Optional companion of <see cref="IInterruptController"/>: the controller is the processor's local APIC, which owns
/// IA32_APIC_BASE (MSR 0x1B). With it, CPUID.1:EDX reports the APIC (bit 9) while the APIC is globally enabled
/// (SDM vol. 3 §10.4.3) and EBX[31:24] its initial ID; RDMSR/WRMSR 0x1B reach it instead of raising #GP.
/// </summary>
public interface IApicBaseRegister
{
    /// <summary>The MSR's value: base address, global enable (bit 11), BSP (bit 8).</summary>
    ulong ApicBase { get; }

    /// <summary>The initial APIC ID CPUID.1:EBX[31:24] reports.</summary>
    byte InitialApicId { get; }

    /// <summary>WRMSR 0x1B; false when reserved bits are set (the CPU raises #GP).</summary>
    bool TrySetApicBase(ulong value);
}
