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

    private uint ReadConfig(int device, int function)
    {
        _ports.Write(0xCF8, 4, 0x8000_0000u | (uint)(device << 11) | (uint)(function << 8));
        return _ports.Read(0xCFC, 4);
    }
}
