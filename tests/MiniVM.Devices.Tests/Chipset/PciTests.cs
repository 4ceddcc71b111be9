using MiniVM.Devices;
using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Tests.Chipset;

public class PciTests
{
    private readonly PortBus _ports = new();
    private readonly DualPic _pic = new();
    private readonly PciHostBridge _host = new();
    private readonly IsaInterruptRouting _irqs;
    private readonly Piix3IsaBridge _isa;

    public PciTests()
    {
        _pic.Attach(_ports);
        _host.Attach(_ports);
        _irqs = WiredDevice.IsaRouting(_pic, WiredDevice.Apics(new VirtualClock(), _pic).IoApic);
        _isa = new Piix3IsaBridge().WiredTo(_irqs);
        _host.AddFunction(_isa);
    }

    private uint ConfigRead(int dev, int fn, int offset, int size = 4)
    {
        _ports.Write(0xCF8, 4, 0x8000_0000u | (uint)(dev << 11) | (uint)(fn << 8) | (uint)(offset & 0xFC));
        return _ports.Read((ushort)(0xCFC + (offset & 3)), size);
    }

    private void ConfigWrite(int dev, int fn, int offset, int size, uint value)
    {
        _ports.Write(0xCF8, 4, 0x8000_0000u | (uint)(dev << 11) | (uint)(fn << 8) | (uint)(offset & 0xFC));
        _ports.Write((ushort)(0xCFC + (offset & 3)), size, value);
    }

    [Fact]
    public void Bus_scan_finds_i440fx_with_qemu_subsystem_and_piix3()
    {
        Assert.Equal(0x1237_8086u, ConfigRead(0, 0, 0x00));
        Assert.Equal(0x1100_1AF4u, ConfigRead(0, 0, 0x2C));
        Assert.Equal(0x0600_0002u, ConfigRead(0, 0, 0x08));
        Assert.Equal(0x1237u, ConfigRead(0, 0, 0x02, 2));
        Assert.Equal(0x7000_8086u, ConfigRead(1, 0, 0x00));
        Assert.Equal(0x80u, ConfigRead(1, 0, 0x0E, 1));     // multi-function
        Assert.Equal(0x0601_0000u, ConfigRead(1, 0, 0x08));
        Assert.Equal(0xFFFF_FFFFu, ConfigRead(5, 0, 0x00));  // empty slot
        _ports.Write(0xCF8, 4, 0x0000_0000u);                // enable bit clear
        Assert.Equal(0xFFFF_FFFFu, _ports.Read(0xCFC, 4));
        _ports.Write(0xCF8, 4, 0x8001_0000u);                // bus 1 does not exist
        Assert.Equal(0xFFFF_FFFFu, _ports.Read(0xCFC, 4));
        Assert.Equal(0x8001_0000u, _ports.Read(0xCF8, 4));
    }

    [Fact]
    public void Pam_writes_raise_per_segment_events_as_seabios_unlocks_the_bios()
    {
        var changes = new List<(int, bool, bool)>();
        _host.PamChanged += (r, rd, wr) => changes.Add((r, rd, wr));
        // SeaBIOS make_bios_writable: 0x5A-0x5F = 0x33, then 0x59 = 0x30.
        for (int i = 1; i <= 6; i++) ConfigWrite(0, 0, 0x59 + i, 1, 0x33);
        ConfigWrite(0, 0, 0x59, 1, 0x30);
        Assert.Equal(13, changes.Count);
        Assert.Equal((1, true, true), changes[0]);
        Assert.Equal((0, true, true), changes[^1]);
        Assert.Equal((0xC4000u, 0x4000u), PciHostBridge.PamRegion(2));
        changes.Clear();
        ConfigWrite(0, 0, 0x59, 1, 0x10); // make_bios_readonly: F0000 read from RAM, writes to ROM side
        Assert.Equal(new[] { (0, true, false) }, changes);
        Assert.Equal((true, false), _host.GetPam(0));
        Assert.Equal(0x10u, ConfigRead(0, 0, 0x59, 1));
        changes.Clear();
        ConfigWrite(0, 0, 0x58, 4, 0x1111_1000); // dword write over 0x58-0x5B
        Assert.Equal(new[] { (1, true, false), (2, true, false), (3, true, false), (4, true, false) }, changes);
    }

    [Fact]
    public void Smram_open_and_lock()
    {
        var opened = new List<bool>();
        _host.SmramChanged += opened.Add;
        Assert.Equal(0x02u, ConfigRead(0, 0, 0x72, 1));
        ConfigWrite(0, 0, 0x72, 1, 0x4A);
        Assert.True(_host.SmramOpened);
        ConfigWrite(0, 0, 0x72, 1, 0x5A); // lock: D_OPEN forced off
        ConfigWrite(0, 0, 0x72, 1, 0x4A); // ignored while locked
        Assert.Equal(new[] { true, false }, opened);
        Assert.Equal(0x1Au, ConfigRead(0, 0, 0x72, 1));
    }

    [Fact]
    public void Config_space_bar_sizing_rom_bar_and_status_write_one_to_clear()
    {
        var cs = new PciConfigSpace(0x1AF4, 0x1001, 0x01, 0x00);
        cs.DefineBar(0, PciBarKind.Io, 64);
        cs.DefineBar(1, PciBarKind.Memory32, 0x1000);
        cs.DefineBar(2, PciBarKind.Memory64Prefetchable, 0x4000);
        cs.DefineRomBar(0x10000);
        for (int off = 0x10; off <= 0x1C; off += 4) cs.Write(off, 4, 0xFFFF_FFFF);
        cs.Write(0x30, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFC1u, cs.Read(0x10, 4));
        Assert.Equal(0xFFFF_F000u, cs.Read(0x14, 4));
        Assert.Equal(0xFFFF_C00Cu, cs.Read(0x18, 4));
        Assert.Equal(0xFFFF_FFFFu, cs.Read(0x1C, 4));
        Assert.Equal(0xFFFF_0001u, cs.Read(0x30, 4));
        Assert.Equal(0u, cs.Read(0x24, 4)); // undefined BAR stays zero
        cs.Write(0x10, 4, 0xC040);
        cs.Write(0x18, 4, 0xE000_0000); cs.Write(0x1C, 4, 0x1);
        cs.Write(0x30, 4, 0xC000_0001);
        Assert.Equal(0xC040UL, cs.GetBarAddress(0));
        Assert.Equal(0x1_E000_0000UL, cs.GetBarAddress(2));
        Assert.Null(cs.RomAddress); // memory decoding still off
        cs.Write(0x04, 2, 0x0003);
        Assert.Equal(0xC000_0000u, cs.RomAddress);
        Assert.True(cs.IoEnabled);
        cs.Bytes[0x07] = 0x20; // status bit 13: received master abort
        cs.Write(0x06, 2, 0x2000);
        Assert.Equal(0u, cs.Read(0x06, 2));
        Assert.Equal(0x1001_1AF4u, cs.Read(0x00, 4));
        cs.Write(0x00, 4, 0);
        Assert.Equal(0x1001_1AF4u, cs.Read(0x00, 4)); // IDs are read-only
        Assert.Throws<ArgumentOutOfRangeException>(() => cs.DefineBar(3, PciBarKind.Memory32, 3000));
    }

    private void InitPicLikeBios()
    {
        _ports.Write(0x20, 1, 0x11); _ports.Write(0x21, 1, 0x08); _ports.Write(0x21, 1, 0x04); _ports.Write(0x21, 1, 0x01);
        _ports.Write(0xA0, 1, 0x11); _ports.Write(0xA1, 1, 0x70); _ports.Write(0xA1, 1, 0x02); _ports.Write(0xA1, 1, 0x01);
        _ports.Write(0x21, 1, 0x00); _ports.Write(0xA1, 1, 0x00);
    }

    [Fact]
    public void Pirq_routing_delivers_pci_intx_as_level_irq_on_the_pic()
    {
        InitPicLikeBios();
        // SeaBIOS piix_isa_bridge_setup: PIRQA-D -> 10, 10, 11, 11 and those IRQs level-triggered.
        ConfigWrite(1, 0, 0x60, 4, 0x0B0B_0A0A);
        _ports.Write(0x4D1, 1, 0x0C);
        Assert.Equal(11, _isa.GetPirqRoute(2));
        var devA = _isa.GetIntxLine(3, 0); // slot 3 INTA -> PIRQC -> IRQ11
        var devB = _isa.GetIntxLine(3, 0);
        devA.SetLevel(true);
        devB.SetLevel(true);
        Assert.Equal(0x73, _pic.Acknowledge());
        devA.SetLevel(false);
        _ports.Write(0xA0, 1, 0x20); _ports.Write(0x20, 1, 0x20);
        Assert.True(_pic.InterruptPending); // B still holds the shared line
        Assert.Equal(0x73, _pic.Acknowledge());
        _ports.Write(0xA0, 1, 0x20); _ports.Write(0x20, 1, 0x20);
        ConfigWrite(1, 0, 0x62, 1, 0x0A); // reroute PIRQC to IRQ10 while asserted
        Assert.Equal(0x72, _pic.Acknowledge());
        _ports.Write(0xA0, 1, 0x20); _ports.Write(0x20, 1, 0x20);
        ConfigWrite(1, 0, 0x62, 1, 0x80); // disabled
        Assert.False(_pic.InterruptPending);
        Assert.Equal(-1, _isa.GetPirqRoute(2));
    }

    [Fact]
    public void Slots_cannot_be_taken_twice()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => _host.AddFunction(new Piix3IsaBridge()));
        Assert.Contains("01.0", ex.Message);
    }

    [Fact]
    public void Host_bridge_state_round_trip_replays_pam_and_refuses_foreign_sections()
    {
        ConfigWrite(0, 0, 0x59, 1, 0x30);
        var ms = new MemoryStream();
        _host.SaveState(new StateWriter(ms));
        var copy = new PciHostBridge();
        var changes = new List<int>();
        copy.PamChanged += (r, _, _) => changes.Add(r);
        ms.Position = 0;
        copy.LoadState(new StateReader(ms, "i440fx"), 1);
        Assert.Equal(new[] { 0 }, changes);
        Assert.Equal((true, true), copy.GetPam(0));

        var isaState = new MemoryStream();
        _isa.SaveState(new StateWriter(isaState));
        isaState.Position = 0;
        var ex = Assert.Throws<StateFormatException>(() => copy.LoadState(new StateReader(isaState, "i440fx"), 1));
        Assert.Contains("7000", ex.Message);
    }
}
