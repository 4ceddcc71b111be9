using System.Reflection;
using MiniVM.Cpu;
using MiniVM.Devices;
using MiniVM.Devices.Pci;

namespace MiniVM.Machine;

/// <summary>
/// The machine's devices, each added once with <see cref="Add"/>: what a device implements decides where it is
/// wired, so none can be half-registered (ports attached but state not saved, state saved but never reset).
/// <list type="bullet">
/// <item><see cref="IPortMapped"/>: its fixed I/O ports are attached to the port bus.</item>
/// <item><see cref="IMmioMapped"/>: each window is mapped on the MMIO bus where it is, and follows it when it moves.</item>
/// <item><see cref="IPciFunction"/>: plugged into the PCI bus (the first added device that is an <see cref="IPciBus"/>).</item>
/// <item><see cref="ISnapshottable"/>: a section of the VM state, in the order devices were added.</item>
/// <item><see cref="IResettable"/>: put back to its power-on state by a machine reset, in the same order.</item>
/// <item><see cref="IInterruptSource"/>: each output wired, an ISA IRQ to the board's <see cref="IIsaInterrupts"/>
/// (the 8259s and the I/O APIC), a PCI INTx pin through the <see cref="IPciInterruptRouter"/> by the function's
/// device number. Both must be on the board before the first device that needs them.</item>
/// <item><see cref="IWiredTo{TPart}"/>: wired to the device on the board that is a TPart (the interrupt controllers
/// to each other: the 8259s to the local APIC's LINT0, the I/O APIC to the local APIC, the ISA IRQ wires to both).</item>
/// </list>
/// Whatever a device needs from the board is checked before anything is registered: a device that cannot be wired
/// completely is refused and the board is unchanged.
/// </summary>
public sealed class Board(PortBus ports, MmioBus mmio, PhysicalMemory memory)
{
    private readonly List<object> _devices = new();
    private readonly List<ISnapshottable> _sections = new();
    private readonly List<IResettable> _resettable = new();
    private IPciBus? _pci;
    private IIsaInterrupts? _isaIrqs;
    private IPciInterruptRouter? _pciIrqs;

    /// <summary>Every device, in the order it was added.</summary>
    public IReadOnlyList<object> Devices => _devices;

    /// <summary>The devices' VM-state sections, in the order they were added (the order of the stream).</summary>
    public IReadOnlyList<ISnapshottable> Sections => _sections;

    public T Add<T>(T device) where T : class
    {
        if (_devices.Contains(device)) throw new InvalidOperationException($"{device.GetType().Name} is already on the board");
        if (device is ISnapshottable s && _sections.Any(o => o.SectionId == s.SectionId))
            throw new InvalidOperationException($"two devices save their state as section '{s.SectionId}'");
        if (device is IInterruptSource source) CheckWirable(device, source);
        var parts = PartsFor(device);
        _devices.Add(device);
        if (device is IIsaInterrupts isaIrqs) _isaIrqs ??= isaIrqs;
        if (device is IPciInterruptRouter pciIrqs) _pciIrqs ??= pciIrqs;
        if (device is IPortMapped p) p.Attach(ports);
        if (device is IMmioMapped m)
            foreach (var window in m.MmioWindows) Follow(window);
        if (device is IPciFunction f)
        {
            if (device is IPciBus bus && _pci is null) _pci = bus; // the host bridge answers its own 00.0
            else (_pci ?? throw new InvalidOperationException($"{device.GetType().Name} is a PCI function, but no PCI bus is on the board yet")).AddFunction(f);
        }
        foreach (var (wiredTo, part) in parts) wiredTo.GetMethod(nameof(IWiredTo<object>.WireTo))!.Invoke(device, [part]);
        if (device is IInterruptSource irqSource) Wire(device, irqSource);
        if (device is ISnapshottable section) _sections.Add(section);
        if (device is IResettable r) _resettable.Add(r);
        return device;
    }

    /// <summary>A machine reset: every resettable device, in the order it was added.</summary>
    public void Reset()
    {
        foreach (var r in _resettable) r.Reset();
    }

    /// <summary>Refuses, before anything is wired, a device whose outputs could not all be connected.</summary>
    private void CheckWirable(object device, IInterruptSource source)
    {
        string name = device.GetType().Name;
        foreach (var output in source.IrqOutputs)
        {
            if (output.IsConnected) throw new InvalidOperationException($"{name}: interrupt output {output} is already wired");
            if (output.IsaIrq is not null && _isaIrqs is null)
                throw new InvalidOperationException($"{name} drives {output}, but no ISA interrupt controller is on the board yet");
            if (output.PciPin is not null && (_pciIrqs is null || device is not IPciFunction))
                throw new InvalidOperationException($"{name} drives {output}, but it is not a PCI function behind a PCI interrupt router on the board");
        }
    }

    /// <summary>
    /// For each <see cref="IWiredTo{TPart}"/> the device implements, the <see cref="IWiredTo{TPart}"/> interface and
    /// the first device on the board that is a TPart; refuses the device when one is missing.
    /// </summary>
    private List<(Type WiredTo, object Part)> PartsFor(object device)
    {
        var parts = new List<(Type, object)>();
        foreach (var wiredTo in device.GetType().GetInterfaces())
        {
            if (!wiredTo.IsGenericType || wiredTo.GetGenericTypeDefinition() != typeof(IWiredTo<>)) continue;
            var partType = wiredTo.GetGenericArguments()[0];
            var part = _devices.FirstOrDefault(partType.IsInstanceOfType)
                ?? throw new InvalidOperationException($"{device.GetType().Name} is wired to the board's {partType.Name}, but there is none on the board yet");
            parts.Add((wiredTo, part));
        }
        return parts;
    }

    private void Wire(object device, IInterruptSource source)
    {
        foreach (var output in source.IrqOutputs)
            output.Connect(output.IsaIrq is { } irq ? _isaIrqs!.GetLine(irq) : _pciIrqs!.GetIntxLine(((IPciFunction)device).Device, output.PciPin!.Value));
    }

    /// <summary>Maps <paramref name="window"/> where it is now and wherever it moves (unmapped on null).</summary>
    private void Follow(MmioWindow window)
    {
        ulong? current = null;
        void MoveTo(ulong? address)
        {
            if (current is { } old)
            {
                mmio.Unregister(window.Device, old);
                memory.Map(old, window.Size, PageSource.Io, PageSource.Io); // stays I/O: the bus answers all-ones when nothing is there
            }
            current = address;
            if (address is { } a && a + window.Size <= 0x1_0000_0000UL)
            {
                mmio.Register(a, window.Size, window.Device);
                memory.MapIo(a, window.Size);
            }
        }
        window.Moved += MoveTo;
        MoveTo(window.Address);
    }
}
