using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class PicTests
{
    private readonly PortBus _ports = new();
    private readonly DualPic _pic = new();

    public PicTests()
    {
        _pic.Attach(_ports);
    }

    /// <summary>The BIOS initialisation sequence: vectors 0x08 and 0x70, cascade on IRQ2, 8086 mode.</summary>
    private void InitLikeBios(byte masterIcw4 = 0x01)
    {
        _ports.Write(0x20, 1, 0x11); _ports.Write(0x21, 1, 0x08); _ports.Write(0x21, 1, 0x04); _ports.Write(0x21, 1, masterIcw4);
        _ports.Write(0xA0, 1, 0x11); _ports.Write(0xA1, 1, 0x70); _ports.Write(0xA1, 1, 0x02); _ports.Write(0xA1, 1, 0x01);
        _ports.Write(0x21, 1, 0x00); _ports.Write(0xA1, 1, 0x00);
    }

    [Fact]
    public void Edge_request_on_irq0_delivers_vector_8_and_stays_in_service_until_eoi()
    {
        InitLikeBios();
        var irq0 = _pic.GetLine(0);
        irq0.SetLevel(true);
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x08, _pic.Acknowledge());
        Assert.False(_pic.InterruptPending);
        _ports.Write(0x20, 1, 0x0B); // OCW3: read ISR
        Assert.Equal(0x01u, _ports.Read(0x20, 1));
        irq0.SetLevel(false);
        irq0.SetLevel(true); // a second edge while in service: pending but blocked
        Assert.False(_pic.InterruptPending);
        _ports.Write(0x20, 1, 0x20); // non-specific EOI
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x08, _pic.Acknowledge());
    }

    [Fact]
    public void Held_edge_input_does_not_retrigger()
    {
        InitLikeBios();
        _pic.SetIrq(1, true);
        Assert.Equal(0x09, _pic.Acknowledge());
        _ports.Write(0x20, 1, 0x20);
        Assert.False(_pic.InterruptPending);
    }

    [Fact]
    public void Slave_irq_goes_through_cascade_and_needs_two_eois()
    {
        InitLikeBios();
        _pic.GetLine(14).SetLevel(true);
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x76, _pic.Acknowledge());
        _ports.Write(0xA0, 1, 0x0B);
        Assert.Equal(0x40u, _ports.Read(0xA0, 1));
        _ports.Write(0x20, 1, 0x0B);
        Assert.Equal(0x04u, _ports.Read(0x20, 1));
        _pic.GetLine(12).SetLevel(true); // lower priority than the one in service on the slave
        Assert.False(_pic.InterruptPending);
        _ports.Write(0xA0, 1, 0x20);
        Assert.False(_pic.InterruptPending); // master still has IRQ2 in service
        _ports.Write(0x20, 1, 0x20);
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x74, _pic.Acknowledge());
    }

    [Fact]
    public void Output_changes_are_announced_and_registers_are_visible()
    {
        InitLikeBios();
        int changes = 0;
        _pic.OutputChanged += () => changes++;
        _pic.SetIrq(10, true);
        Assert.Equal(1, changes);
        Assert.Equal(0x04, _pic.Slave.RequestRegister);
        Assert.Equal(0x70, _pic.Slave.VectorBase);
        _pic.Acknowledge();
        Assert.Equal(2, changes);
        Assert.Equal(0x04, _pic.Master.InServiceRegister);
        Assert.Throws<ArgumentOutOfRangeException>(() => _pic.GetLine(16));
    }

    [Fact]
    public void Irq2_line_is_delivered_as_irq9()
    {
        InitLikeBios();
        _pic.GetLine(2).SetLevel(true);
        Assert.Equal(0x71, _pic.Acknowledge());
    }

    [Fact]
    public void Mask_blocks_and_unmask_releases_a_latched_request()
    {
        InitLikeBios();
        _ports.Write(0x21, 1, 0x02);
        _pic.SetIrq(1, true);
        Assert.False(_pic.InterruptPending);
        Assert.Equal(0x02u, _ports.Read(0x20, 1)); // IRR is the default read
        Assert.Equal(0x02u, _ports.Read(0x21, 1)); // IMR
        _ports.Write(0x21, 1, 0x00);
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x09, _pic.Acknowledge());
    }

    [Fact]
    public void Priority_is_lowest_irq_first_and_rotation_moves_it()
    {
        InitLikeBios();
        _pic.SetIrq(3, true);
        _pic.SetIrq(5, true);
        Assert.Equal(0x0B, _pic.Acknowledge());
        _ports.Write(0x20, 1, 0xA0); // rotate on non-specific EOI: IRQ3 becomes lowest
        _pic.SetIrq(3, false); _pic.SetIrq(3, true);
        Assert.Equal(0x0D, _pic.Acknowledge()); // IRQ5 now outranks IRQ3
    }

    [Fact]
    public void Specific_eoi_and_set_priority()
    {
        InitLikeBios();
        _ports.Write(0x20, 1, 0xC4); // IRQ4 lowest -> IRQ5 highest
        _pic.SetIrq(0, true);
        _pic.SetIrq(6, true);
        Assert.Equal(0x0E, _pic.Acknowledge());
        _ports.Write(0x20, 1, 0x66); // specific EOI IRQ6
        _ports.Write(0x20, 1, 0x0B);
        Assert.Equal(0x00u, _ports.Read(0x20, 1));
        Assert.Equal(0x08, _pic.Acknowledge());
    }

    [Fact]
    public void Auto_eoi_leaves_isr_clear()
    {
        InitLikeBios(masterIcw4: 0x03);
        _pic.SetIrq(4, true);
        Assert.Equal(0x0C, _pic.Acknowledge());
        _ports.Write(0x20, 1, 0x0B);
        Assert.Equal(0x00u, _ports.Read(0x20, 1));
    }

    [Fact]
    public void Vanished_request_gives_spurious_irq7_without_isr()
    {
        InitLikeBios();
        Assert.Equal(0x0F, _pic.Acknowledge());
        _ports.Write(0x20, 1, 0x0B);
        Assert.Equal(0x00u, _ports.Read(0x20, 1));
    }

    [Fact]
    public void Level_triggered_input_via_elcr_stays_pending_while_asserted()
    {
        InitLikeBios();
        _ports.Write(0x4D1, 1, 0x0C); // IRQ10, IRQ11 level
        Assert.Equal(0x0Cu, _ports.Read(0x4D1, 1));
        _ports.Write(0x4D0, 1, 0xFF);
        Assert.Equal(0xF8u, _ports.Read(0x4D0, 1)); // IRQ0-2 cannot be level
        var line = _pic.GetLine(11);
        line.SetLevel(true);
        Assert.Equal(0x73, _pic.Acknowledge());
        _ports.Write(0xA0, 1, 0x20); _ports.Write(0x20, 1, 0x20);
        Assert.True(_pic.InterruptPending); // still asserted: delivered again
        Assert.Equal(0x73, _pic.Acknowledge());
        _ports.Write(0xA0, 1, 0x20); _ports.Write(0x20, 1, 0x20);
        line.SetLevel(false);
        Assert.False(_pic.InterruptPending);
    }

    [Fact]
    public void Poll_command_returns_and_acknowledges_highest_request()
    {
        InitLikeBios();
        _pic.SetIrq(6, true);
        _ports.Write(0x20, 1, 0x0C);
        Assert.Equal(0x86u, _ports.Read(0x20, 1));
        _ports.Write(0x20, 1, 0x0B);
        Assert.Equal(0x40u, _ports.Read(0x20, 1));
        _ports.Write(0x20, 1, 0x0C);
        Assert.Equal(0x00u, _ports.Read(0x20, 1));
    }

    [Fact]
    public void Special_mask_mode_lets_lower_priority_in_while_masked_level_is_in_service()
    {
        InitLikeBios();
        _pic.SetIrq(1, true);
        Assert.Equal(0x09, _pic.Acknowledge());
        _pic.SetIrq(4, true);
        Assert.False(_pic.InterruptPending);
        _ports.Write(0x21, 1, 0x02);
        _ports.Write(0x20, 1, 0x68); // OCW3: set special mask
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x0C, _pic.Acknowledge());
    }

    [Fact]
    public void State_round_trips_and_bad_state_is_refused()
    {
        InitLikeBios();
        _ports.Write(0x21, 1, 0xFA);
        _pic.SetIrq(0, true);
        var ms = new MemoryStream();
        _pic.SaveState(new StateWriter(ms));
        var copy = new DualPic();
        ms.Position = 0;
        copy.LoadState(new StateReader(ms, "pic"), 1);
        Assert.True(copy.InterruptPending);
        Assert.Equal(0x08, copy.Acknowledge());

        var bytes = ms.ToArray();
        var truncated = new MemoryStream(bytes[..10]);
        var ex = Assert.Throws<StateFormatException>(() => new DualPic().LoadState(new StateReader(truncated, "pic"), 1));
        Assert.Contains("pic", ex.Message);
        Assert.Throws<StateFormatException>(() => new DualPic().LoadState(new StateReader(new MemoryStream(bytes), "pic"), 2));
    }
}
