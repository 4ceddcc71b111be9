using MiniVM.Cpu;
using MiniVM.Devices;
using MiniVM.Devices.Pci;
using MiniVM.Devices.Storage;

namespace MiniVM.Machine.Tests;

/// <summary>The board wires a device from what it implements, once.</summary>
public sealed class BoardTests
{
    private readonly PortBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly PhysicalMemory _memory = new(1 << 20);

    private Board NewBoard() => new(_ports, _mmio, _memory);

    [Fact]
    public void AddingADeviceAttachesItsPortsMakesItASectionAndResetsIt()
    {
        var board = NewBoard();
        var a20 = board.Add(new FastA20Reset());
        Assert.Equal(0u, _ports.Read(0x92, 1));
        _ports.Write(0x92, 1, 0x02);                     // the guest opens A20 through port 0x92
        Assert.Equal(0x02u, _ports.Read(0x92, 1));
        Assert.Same(a20, Assert.Single(board.Sections));
        board.Reset();
        Assert.Equal(0u, _ports.Read(0x92, 1));
    }

    [Fact]
    public void MmioWindowsAreMappedWhereTheyAreAndFollowTheirDevice()
    {
        var board = NewBoard();
        var pic = board.Add(new DualPic());
        var apic = board.Add(new LocalApic(new VirtualClock(), pic));
        Assert.Equal(LocalApic.Version, _mmio.Read(LocalApic.DefaultBase + 0x30, 4) & 0xFF_00FF);
        Assert.True(apic.TrySetBase(0xFED0_0000 | LocalApic.BaseBsp | LocalApic.BaseEnable));
        Assert.Equal(LocalApic.Version, _mmio.Read(0xFED0_0030, 4) & 0xFF_00FF);
        Assert.Equal(0xFFFF_FFFFu, _mmio.Read(LocalApic.DefaultBase + 0x30, 4)); // nothing answers at the old page
    }

    [Fact]
    public void ADeviceCannotBeAddedTwiceNorAPciFunctionBeforeTheBus()
    {
        var board = NewBoard();
        var pic = board.Add(new DualPic());
        Assert.Throws<InvalidOperationException>(() => board.Add(pic));
        var e = Assert.Throws<InvalidOperationException>(() => board.Add(new Piix3IsaBridge(new IsaInterruptRouting(pic, new IoApic(new LocalApic(new VirtualClock(), pic))))));
        Assert.Contains("no PCI bus", e.Message);
        board.Add(new PciHostBridge());
        Assert.Equal(0xFFFF_FFFFu, ReadConfig(0x01, 0));
        board.Add(new Piix3IsaBridge(new IsaInterruptRouting(pic, new IoApic(new LocalApic(new VirtualClock(), pic)))));
        Assert.Equal(0x7000_8086u, ReadConfig(0x01, 0)); // the ISA bridge answers at 01.0
    }

    [Fact]
    public void InterruptOutputsAreWiredWhenTheDeviceIsAddedToTheIsaIrqOrThroughThePirqSwizzle()
    {
        var board = NewBoard();
        var pic = board.Add(new DualPic());
        var apic = board.Add(new LocalApic(new VirtualClock(), pic));
        var irqs = board.Add(new IsaInterruptRouting(pic, board.Add(new IoApic(apic))));
        board.Add(new PciHostBridge());
        board.Add(new Piix3IsaBridge(irqs));

        var isa = board.Add(new TestSource(IrqOutput.Isa(5)));
        Assert.True(isa.Output.IsConnected);
        isa.Output.SetLevel(true);
        Assert.Equal(1 << 5, ReadIrr(0x20));                 // the master 8259 latched IRQ5

        // Slot 3 INTA# -> PIRQC (QEMU's swizzle), which the guest routes to IRQ 11 (PIIX3 register 0x62).
        _ports.Write(0xCF8, 4, 0x8000_0000u | (1 << 11) | 0x60);
        _ports.Write(0xCFE, 1, 11);
        var pci = board.Add(new TestPciSource(device: 3));
        pci.Output.SetLevel(true);
        Assert.Equal(1 << (11 - 8), ReadIrr(0xA0));          // the slave 8259 latched IRQ11
    }

    [Fact]
    public void AnInterruptSourceIsRefusedWhenTheBoardCannotWireItsOutputs()
    {
        var board = NewBoard();
        var early = new TestSource(IrqOutput.Isa(5));
        var e = Assert.Throws<InvalidOperationException>(() => board.Add(early));
        Assert.Equal("TestSource drives IRQ5, but no ISA interrupt controller is on the board yet", e.Message);
        Assert.Empty(board.Devices);
        Assert.False(early.Output.IsConnected);

        var pic = board.Add(new DualPic());
        board.Add(new IsaInterruptRouting(pic, new IoApic(new LocalApic(new VirtualClock(), pic))));
        e = Assert.Throws<InvalidOperationException>(() => board.Add(new TestSource(IrqOutput.PciIntx(0))));
        Assert.Contains("drives INTA#, but it is not a PCI function behind a PCI interrupt router", e.Message);
        board.Add(early);
        Assert.True(early.Output.IsConnected);
    }

    private int ReadIrr(ushort picPort)
    {
        _ports.Write(picPort, 1, 0x0A); // OCW3: read the IRR
        return (int)_ports.Read(picPort, 1);
    }

    private class TestSource(IrqOutput output) : IInterruptSource
    {
        public IrqOutput Output => output;
        public IReadOnlyList<IrqOutput> IrqOutputs => [output];
    }

    private sealed class TestPciSource(int device) : TestSource(IrqOutput.PciIntx(0)), IPciFunction
    {
        public int Device => device;
        public int Function => 0;
        public uint ReadConfig(int offset, int size) => 0xFFFF_FFFF;
        public void WriteConfig(int offset, int size, uint value) { }
    }

    private uint ReadConfig(int device, int function)
    {
        _ports.Write(0xCF8, 4, 0x8000_0000u | (uint)(device << 11) | (uint)(function << 8));
        return _ports.Read(0xCFC, 4);
    }
}
