namespace MiniVM.Devices.Pci;

/// <summary>The PCI bus a function is plugged into (configuration mechanism #1 reaches it there).</summary>
public interface IPciBus
{
    void AddFunction(IPciFunction function);
}
