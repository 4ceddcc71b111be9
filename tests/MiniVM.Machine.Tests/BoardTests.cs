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
        board.Add(new DualPic());
        var apic = board.Add(new LocalApic(new VirtualClock()));
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
        board.Add(new LocalApic(new VirtualClock()));
        board.Add(new IoApic());
        board.Add(new IsaInterruptRouting());
        var e = Assert.Throws<InvalidOperationException>(() => board.Add(new Piix3IsaBridge()));
        Assert.Contains("no PCI bus", e.Message);
        board.Add(new PciHostBridge());
        Assert.Equal(0xFFFF_FFFFu, ReadConfig(0x01, 0));
        board.Add(new Piix3IsaBridge());
        Assert.Equal(0x7000_8086u, ReadConfig(0x01, 0)); // the ISA bridge answers at 01.0
    }

    [Fact]
    public void InterruptOutputsAreWiredWhenTheDeviceIsAddedToTheIsaIrqOrThroughThePirqSwizzle()
    {
        var board = NewBoard();
        AddInterruptControllers(board);
        board.Add(new PciHostBridge());
        board.Add(new Piix3IsaBridge());

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

        AddInterruptControllers(board);
        e = Assert.Throws<InvalidOperationException>(() => board.Add(new TestSource(IrqOutput.PciIntx(0))));
        Assert.Contains("drives INTA#, but it is not a PCI function behind a PCI interrupt router", e.Message);
        board.Add(early);
        Assert.True(early.Output.IsConnected);
    }

    [Fact]
    public void TheInterruptControllersAreWiredToEachOtherByTheBoardAndRefusedWithoutTheirPart()
    {
        var board = NewBoard();
        var e = Assert.Throws<InvalidOperationException>(() => board.Add(new LocalApic(new VirtualClock())));
        Assert.Equal("LocalApic is wired to the board's IIntrController, but there is none on the board yet", e.Message);
        Assert.Empty(board.Devices);
        Assert.Empty(board.Sections); // refused before anything was registered
        Assert.Equal(0xFFFF_FFFFu, _mmio.Read(LocalApic.DefaultBase + 0x30, 4));

        board.Add(new DualPic());
        e = Assert.Throws<InvalidOperationException>(() => board.Add(new IoApic()));
        Assert.Equal("IoApic is wired to the board's IApicBus, but there is none on the board yet", e.Message);
        var apic = board.Add(new LocalApic(new VirtualClock()));
        e = Assert.Throws<InvalidOperationException>(() => board.Add(new IsaInterruptRouting()));
        Assert.Equal("IsaInterruptRouting is wired to the board's IoApic, but there is none on the board yet", e.Message);
        board.Add(new IoApic());
        board.Add(new IsaInterruptRouting());
        var device = board.Add(new TestSource(IrqOutput.Isa(3)));

        // 8259 path: the master at vector 0x08 (ICW1..4), IRQ3 unmasked; it reaches the CPU through LINT0 (ExtINT).
        foreach (byte b in new byte[] { 0x11 }) _ports.Write(0x20, 1, b);
        foreach (byte b in new byte[] { 0x08, 0x04, 0x01, 0xF7 }) _ports.Write(0x21, 1, b);
        device.Output.SetLevel(true);
        Assert.True(apic.InterruptPending);
        Assert.Equal(0x0B, apic.Acknowledge());
        device.Output.SetLevel(false);
        _ports.Write(0x20, 1, 0x20);                                        // EOI

        // I/O APIC path: the 8259 masked, pin 3 -> vector 0x43 to APIC 0; the local APIC software-enabled.
        _ports.Write(0x21, 1, 0xFF);
        _mmio.Write(LocalApic.DefaultBase + 0xF0, 4, 0x1FF);
        _mmio.Write(IoApic.DefaultBase, 4, 0x10 + 2 * 3);
        _mmio.Write(IoApic.DefaultBase + 0x10, 4, 0x43);
        device.Output.SetLevel(true);
        Assert.True(apic.InterruptPending);
        Assert.Equal(0x43, apic.Acknowledge());
    }

    /// <summary>The 8259 pair, the local APIC, the I/O APIC and the ISA IRQ wires, in the order the PC adds them.</summary>
    private static void AddInterruptControllers(Board board)
    {
        board.Add(new DualPic());
        board.Add(new LocalApic(new VirtualClock()));
        board.Add(new IoApic());
        board.Add(new IsaInterruptRouting());
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
