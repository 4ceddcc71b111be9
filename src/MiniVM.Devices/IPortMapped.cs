namespace MiniVM.Devices;

/// <summary>
/// A device that decodes fixed I/O ports: the board calls <see cref="Attach"/> once, when the device is added.
/// Ports that move with a PCI BAR are the device's own business (it keeps the bus it was attached to).
/// </summary>
public interface IPortMapped
{
    void Attach(PortBus ports);
}
