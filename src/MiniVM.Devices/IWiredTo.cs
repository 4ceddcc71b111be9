namespace MiniVM.Devices;

/// <summary>
/// A part of the interrupt system that works only wired to another part of the board: the local APIC to the 8259s
/// behind its LINT0, the I/O APIC to the local APIC its messages reach, the ISA IRQ wires to both controllers. The
/// board calls <see cref="WireTo"/> once, when the device is added, with the device on the board that is a
/// <typeparamref name="TPart"/> (added before it); a device whose part is missing is refused, so no controller is
/// wired by hand in a constructor or left half-connected.
/// </summary>
public interface IWiredTo<in TPart> where TPart : class
{
    void WireTo(TPart part);
}
