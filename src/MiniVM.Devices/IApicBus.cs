namespace MiniVM.Devices;

/// <summary>
/// What an I/O APIC's messages reach (the one local APIC on this machine): destination match, fixed and NMI
/// delivery, and the EOI broadcast that clears a level-triggered entry's remote IRR.
/// </summary>
public interface IApicBus
{
    /// <summary>True when a message with this destination addresses the APIC.</summary>
    bool MatchesDestination(byte destination, bool logical);

    /// <summary>A fixed or lowest-priority interrupt message.</summary>
    void AcceptInterrupt(int vector, bool level);

    /// <summary>An NMI message.</summary>
    void AcceptNmi();

    /// <summary>Raised on an EOI for a level-triggered vector.</summary>
    event Action<byte>? EndOfInterrupt;
}
