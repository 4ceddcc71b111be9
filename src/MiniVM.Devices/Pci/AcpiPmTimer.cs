namespace MiniVM.Devices.Pci;

/// <summary>
/// The ACPI power-management timer's arithmetic (ACPI 6.5 §4.8.3.3): a free-running counter at 3.579545 MHz whose
/// value is a pure function of virtual time, so two runs of a guest read the same counts. The register shows its low
/// 24 bits (FADT flag TMR_VAL_EXT clear); TMR_STS is set each time bit 23 changes. Conversions split the time into
/// whole seconds and the rest so that no product overflows 64 bits however long the machine runs.
/// </summary>
public static class AcpiPmTimer
{
    public const long FrequencyHz = 3_579_545;
    private const long NsPerSecond = 1_000_000_000;

    /// <summary>Counter ticks elapsed at <paramref name="ns"/> virtual nanoseconds (floor).</summary>
    public static long TicksAt(long ns) => ns / NsPerSecond * FrequencyHz + ns % NsPerSecond * FrequencyHz / NsPerSecond;

    /// <summary>The first virtual nanosecond at which <paramref name="ticks"/> ticks have elapsed (ceiling).</summary>
    public static long NanosecondsAt(long ticks) =>
        ticks / FrequencyHz * NsPerSecond + (ticks % FrequencyHz * NsPerSecond + FrequencyHz - 1) / FrequencyHz;

    /// <summary>The 24-bit register value at <paramref name="ns"/>.</summary>
    public static uint RegisterAt(long ns) => (uint)(TicksAt(ns) & 0xFF_FFFF);

    /// <summary>The tick count at which bit 23 next changes after <paramref name="ticks"/> (QEMU's overflow time).</summary>
    public static long NextBit23Change(long ticks) => (ticks + 0x80_0000) & ~0x7F_FFFFL;
}
